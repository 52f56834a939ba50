"""Kibana saved objects: valid NDJSON, resolvable references, fields that exist in the real alert
mapping, and `finwatch kibana setup` against a fake Kibana on loopback (no Kibana runs here)."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitor import kibana
from monitor.cli import main
from monitor.routing import Router
from monitor.store import Store


def committed_objects() -> list[dict[str, Any]]:
    lines = kibana.NDJSON_PATH.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.strip() for line in lines)
    return [json.loads(line) for line in lines]


def test_committed_ndjson_is_what_the_units_table_builds() -> None:
    assert kibana.NDJSON_PATH.read_text(encoding="utf-8") == kibana.to_ndjson(
        kibana.build_objects(Router.from_file())), "run `finwatch kibana export`"


def test_objects_cover_the_issue_and_have_chinese_titles() -> None:
    objects = committed_objects()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_type.setdefault(obj["type"], []).append(obj)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in obj["attributes"]["title"]) or \
            obj["type"] == "index-pattern"
    assert len(by_type["index-pattern"]) == 1
    assert by_type["index-pattern"][0]["attributes"]["timeFieldName"] == "first_seen"
    router = Router.from_file()
    queries = {json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
               ["query"] for o in by_type["search"]}
    assert {f'units:"{code}"' for code in router.unit_names} <= queries
    assert {o["attributes"]["title"] for o in by_type["search"]} >= {
        f"{name} · 告警" for name in router.unit_names.values()}
    vis_fields = {json.loads(v["attributes"]["visState"])["aggs"][1]["params"]["field"]
                  for v in by_type["visualization"]}
    assert vis_fields == {"first_seen", "sector_zh", "violations_zh", "site_name", "domain"}
    (dashboard,) = by_type["dashboard"]
    assert {r["id"] for r in dashboard["references"]} >= {v["id"] for v in by_type["visualization"]}


@pytest.mark.es
def test_every_object_validates_against_the_real_alert_mapping(store: Store) -> None:
    mapping = store.client.indices.get_mapping(index=store.alerts_index)
    fields = kibana.mapping_fields(mapping[store.alerts_index]["mappings"]["properties"])
    assert "evidence.code" in fields and "page_title.keyword" in fields
    assert kibana.validate_objects(committed_objects(), fields) == []


def test_validation_catches_broken_objects() -> None:
    fields = {"first_seen", "units", "site_name", "sector_zh", "violations_zh", "risk_score",
              "summary_zh", "url", "domain"}
    objects = committed_objects()
    assert kibana.validate_objects(objects, fields) == []
    assert any("'sector_zh' is not in the alert mapping" in p
               for p in kibana.validate_objects(objects, fields - {"sector_zh"}))
    dangling = json.loads(json.dumps(objects))
    dangling[-1]["references"][0]["id"] = "gone"
    assert any("not in the file" in p for p in kibana.validate_objects(dangling, fields))
    undeclared = json.loads(json.dumps(objects))
    undeclared[-1]["references"] = undeclared[-1]["references"][1:]
    assert any("panel_0 used but not in references" in p
               for p in kibana.validate_objects(undeclared, fields))


def test_discover_link_points_at_the_units_search_for_the_week() -> None:
    from monitor.digest.week import Week

    week = Week.parse("2026-W48")
    url = kibana.discover_url("http://127.0.0.1:5601", "fgj", week.start, week.end)
    assert url == ("http://127.0.0.1:5601/app/discover#/view/finwatch-search-unit-fgj"
                   "?_g=(time:(from:'2026-11-22T16:00:00.000Z',to:'2026-11-29T16:00:00.000Z'))")


class FakeKibana(BaseHTTPRequestHandler):
    """Answers like Kibana's import and spaces APIs and records what it was sent."""

    requests: list[dict[str, Any]] = []
    fail_import = False

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.requests.append({"path": self.path, "headers": headers, "body": body})
        if self.headers.get("kbn-xsrf") is None:
            return self._reply(400, {"message": "Request must contain a kbn-xsrf header."})
        if self.path == "/api/spaces/space":
            return self._reply(200, json.loads(body))
        if not self.path.endswith("/api/saved_objects/_import?overwrite=true"):
            return self._reply(404, {"message": "Not Found"})
        if self.fail_import:
            return self._reply(200, {"success": False, "successCount": 0, "errors": [
                {"id": "x", "type": "search", "error": {"type": "missing_references"}}]})
        objects = parse_upload(self.headers["Content-Type"], body)
        return self._reply(200, {"success": True, "successCount": len(objects), "errors": []})

    def _reply(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def parse_upload(content_type: str, body: bytes) -> list[dict[str, Any]]:
    """The multipart `file` field, as Kibana reads it: one saved object per NDJSON line."""
    msg = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body,
                                   policy=policy.HTTP)
    (part,) = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition")
               == "file"]
    assert part.get_filename().endswith(".ndjson")
    return [json.loads(line) for line in part.get_payload(decode=True).decode().splitlines()]


@pytest.fixture
def fake_kibana() -> Iterator[str]:
    FakeKibana.requests = []
    FakeKibana.fail_import = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_setup_imports_the_objects_with_overwrite_and_xsrf(fake_kibana: str, capsys) -> None:
    assert main(["kibana", "setup", "--url", fake_kibana]) == 0
    (req,) = FakeKibana.requests
    assert req["path"] == "/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["kbn-xsrf"]
    uploaded = parse_upload(req["headers"]["content-type"], req["body"])
    assert uploaded == committed_objects()
    assert "default space: 15 objects" in capsys.readouterr().out


def test_setup_with_spaces_creates_one_space_per_unit(fake_kibana: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBANA_USERNAME", "finwatch_setup")
    monkeypatch.setenv("KIBANA_PASSWORD", "pw")
    assert main(["kibana", "setup", "--url", fake_kibana, "--spaces",
                 "--index-prefix", "fwprod"]) == 0
    router = Router.from_file()
    spaces = [json.loads(r["body"]) for r in FakeKibana.requests
              if r["path"] == "/api/spaces/space"]
    assert [(s["id"], s["name"]) for s in spaces] == [
        (f"finwatch-{code}", name) for code, name in router.unit_names.items()]
    assert all(r["headers"]["authorization"].startswith("Basic ") for r in FakeKibana.requests)
    imports = {r["path"]: parse_upload(r["headers"]["content-type"], r["body"])
               for r in FakeKibana.requests if "_import" in r["path"]}
    gafj = imports["/s/finwatch-gafj/api/saved_objects/_import?overwrite=true"]
    assert {o["id"] for o in gafj if o["type"] == "search"} == {
        "finwatch-search-all", "finwatch-search-unit-gafj"}
    assert gafj[0]["attributes"]["title"] == "fwprod-alerts*"


def test_setup_reports_import_errors_and_unreachable_kibana(fake_kibana: str, capsys) -> None:
    FakeKibana.fail_import = True
    assert main(["kibana", "setup", "--url", fake_kibana]) == 1
    assert "missing_references" in capsys.readouterr().err
    assert main(["kibana", "setup", "--url", "http://127.0.0.1:9"]) == 1
    assert "http://127.0.0.1:9/api/saved_objects/_import" in capsys.readouterr().err
