"""Kibana saved objects for analysts, and `finwatch kibana setup|export`.

Why generated from config: one saved search per unit must follow config/units.yaml, so the
objects are built here from the units table and the label vocabulary, written to
monitor/kibana/finwatch.ndjson (committed, for review and manual import; a test keeps it equal
to what this module builds), and imported through Kibana's Saved Objects import API. Legacy
`visualization` objects are used rather than Lens: they carry their fields in plain aggs, which
the tests check against the real alert mapping, and Kibana 8.x migrates them on import.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.routing import Router

NDJSON_PATH = Path(__file__).with_name("kibana") / "finwatch.ndjson"
DATA_VIEW_ID = "finwatch-alerts"
DASHBOARD_ID = "finwatch-dashboard-overview"
DEFAULT_PREFIX = "finwatch"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
SEARCH_COLUMNS = ["site_name", "sector_zh", "violations_zh", "risk_score", "summary_zh", "url",
                  "units"]


def search_id(unit: str) -> str:
    return f"finwatch-search-unit-{unit}"


def space_id(unit: str) -> str:
    return f"finwatch-{unit}"


def kibana_base_url() -> str:
    """$FINWATCH_KIBANA_URL: where analysts open Kibana (digest links and `kibana setup`)."""
    return os.environ.get("FINWATCH_KIBANA_URL", "http://127.0.0.1:5601").rstrip("/")


def discover_url(base: str, unit: str, start: datetime, end: datetime) -> str:
    """The unit's saved search in Discover, limited to [start, end) (UTC: no '+' in the URL)."""
    frm, to = (t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") for t in (start, end))
    return f"{base}/app/discover#/view/{search_id(unit)}?_g=(time:(from:'{frm}',to:'{to}'))"


def _search_source(query: str = "", with_index: bool = True) -> str:
    source: dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if with_index:
        source["indexRefName"] = INDEX_REF
    return json.dumps(source, ensure_ascii=False)


def _index_ref() -> list[dict[str, str]]:
    return [{"name": INDEX_REF, "type": "index-pattern", "id": DATA_VIEW_ID}]


def _terms(agg_id: str, field: str, schema: str, size: int, label: str) -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": "terms", "schema": schema,
            "params": {"field": field, "size": size, "order": "desc", "orderBy": "1",
                       "otherBucket": False, "missingBucket": False, "customLabel": label}}


_COUNT = {"id": "1", "enabled": True, "type": "count", "schema": "metric",
          "params": {"customLabel": "告警数"}}


def _visualization(vis_id: str, title: str, vis_type: str, params: dict[str, Any],
                   aggs: list[dict[str, Any]]) -> dict[str, Any]:
    vis_state = {"title": title, "type": vis_type, "params": {"type": vis_type, **params},
                 "aggs": [_COUNT, *aggs]}
    return {
        "id": vis_id, "type": "visualization",
        "attributes": {
            "title": title, "description": "", "version": 1, "uiStateJSON": "{}",
            "visState": json.dumps(vis_state, ensure_ascii=False),
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source()},
        },
        "references": _index_ref(),
    }


def _visualizations() -> list[dict[str, Any]]:
    return [
        _visualization("finwatch-vis-over-time", "告警趋势（按首次发现日期）", "histogram",
                       {"addLegend": False, "addTooltip": True}, [
                           {"id": "2", "enabled": True, "type": "date_histogram",
                            "schema": "segment",
                            "params": {"field": "first_seen", "interval": "d",
                                       "min_doc_count": 1, "extended_bounds": {},
                                       "customLabel": "首次发现日期"}}]),
        _visualization("finwatch-vis-by-sector", "按业态分布", "pie",
                       {"addLegend": True, "addTooltip": True, "isDonut": True,
                        "legendPosition": "right"},
                       [_terms("2", "sector_zh", "segment", 10, "业态")]),
        _visualization("finwatch-vis-by-violation", "按违规类型", "horizontal_bar",
                       {"addLegend": False, "addTooltip": True},
                       [_terms("2", "violations_zh", "segment", 10, "违规类型")]),
        _visualization("finwatch-vis-by-site", "按网站", "table",
                       {"perPage": 10, "showTotal": True, "totalFunc": "sum"},
                       [_terms("2", "site_name", "bucket", 20, "网站")]),
        _visualization("finwatch-vis-top-entities", "主要涉及主体（按域名）前十", "table",
                       {"perPage": 10, "showTotal": False},
                       [_terms("2", "domain", "bucket", 10, "域名"),
                        _terms("3", "site_name", "bucket", 1, "网站名称")]),
    ]


def _saved_search(obj_id: str, title: str, query: str, description: str) -> dict[str, Any]:
    return {
        "id": obj_id, "type": "search",
        "attributes": {
            "title": title, "description": description, "columns": SEARCH_COLUMNS,
            "sort": [["first_seen", "desc"]], "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
        },
        "references": _index_ref(),
    }


def _dashboard(panel_ids: list[tuple[str, str]]) -> dict[str, Any]:
    layout = [(0, 0, 48, 12), (0, 12, 24, 15), (24, 12, 24, 15), (0, 27, 24, 15),
              (24, 27, 24, 15), (0, 42, 48, 18)]
    panels, refs = [], []
    for n, ((obj_type, obj_id), (x, y, w, h)) in enumerate(zip(panel_ids, layout, strict=True)):
        ref = f"panel_{n}"
        panels.append({"type": obj_type, "panelIndex": str(n), "panelRefName": ref,
                       "embeddableConfig": {}, "gridData": {"x": x, "y": y, "w": w, "h": h,
                                                            "i": str(n)}})
        refs.append({"name": ref, "type": obj_type, "id": obj_id})
    return {
        "id": DASHBOARD_ID, "type": "dashboard",
        "attributes": {
            "title": "互联网金融风险监测总览",
            "description": "告警趋势、业态、违规类型、网站与主体",
            "panelsJSON": json.dumps(panels, ensure_ascii=False),
            "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "version": 1, "timeRestore": True, "timeFrom": "now-30d", "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(with_index=False)},
        },
        "references": refs,
    }


def build_objects(router: Router, prefix: str = DEFAULT_PREFIX) -> list[dict[str, Any]]:
    """Data view, one saved search per unit plus one for all alerts, the charts, the dashboard."""
    data_view = {
        "id": DATA_VIEW_ID, "type": "index-pattern",
        "attributes": {"title": f"{prefix}-alerts*", "name": "互联网金融告警",
                       "timeFieldName": "first_seen"},
        "references": [],
    }
    searches = [_saved_search("finwatch-search-all", "全部告警", "", "所有单位的告警")]
    searches += [
        _saved_search(search_id(code), f"{name} · 告警", f'units:"{code}"',
                      f"分派给{name}的告警（含抄送）")
        for code, name in router.unit_names.items()]
    vis = _visualizations()
    dashboard = _dashboard([("visualization", v["id"]) for v in vis]
                           + [("search", "finwatch-search-all")])
    return [data_view, *searches, *vis, dashboard]


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objects)


def _auth_headers() -> dict[str, str]:
    """KIBANA_API_KEY, or KIBANA_USERNAME/KIBANA_PASSWORD (falling back to ELASTICSEARCH_*)."""
    if key := os.environ.get("KIBANA_API_KEY"):
        return {"Authorization": f"ApiKey {key}"}
    user = os.environ.get("KIBANA_USERNAME") or os.environ.get("ELASTICSEARCH_USERNAME")
    if user:
        password = (os.environ.get("KIBANA_PASSWORD")
                    or os.environ.get("ELASTICSEARCH_PASSWORD", ""))
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


class KibanaError(RuntimeError):
    """Kibana refused or could not be reached; the message names the URL."""


def _request(url: str, data: bytes, content_type: str, timeout: float) -> dict[str, Any]:
    headers = {"kbn-xsrf": "finwatch", "Content-Type": content_type, **_auth_headers()}
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()[:500].decode("utf-8", "replace")
        if exc.code == 409:
            return {"conflict": True}
        raise KibanaError(f"{url}: HTTP {exc.code}: {body}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise KibanaError(f"{url}: {exc}") from exc


def import_ndjson(base: str, ndjson: str, *, space: str | None = None,
                  timeout: float = 30.0) -> dict[str, Any]:
    """POST the objects to `_import?overwrite=true` as a multipart file; raise on any error."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"finwatch.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n"
            ).encode() + ndjson.encode("utf-8") + f"\r\n--{boundary}--\r\n".encode()
    prefix = f"/s/{space}" if space else ""
    url = f"{base}{prefix}/api/saved_objects/_import?overwrite=true"
    result = _request(url, body, f"multipart/form-data; boundary={boundary}", timeout)
    if not result.get("success"):
        raise KibanaError(f"{url}: import failed: {json.dumps(result.get('errors'))[:800]}")
    return result


def ensure_space(base: str, unit: str, name: str, timeout: float = 30.0) -> None:
    """One Kibana space per unit (free licence: access per space plus index privileges)."""
    body = json.dumps({"id": space_id(unit), "name": name,
                       "description": f"{name}的互联网金融告警"}, ensure_ascii=False)
    _request(f"{base}/api/spaces/space", body.encode(), "application/json", timeout)


def setup(base: str, *, prefix: str, spaces: bool, router: Router | None = None) -> list[str]:
    """Import everything into the default space, and with `spaces` one space per unit holding
    the data view, the charts and that unit's search. Returns one line per import."""
    router = router or Router.from_file()
    objects = build_objects(router, prefix)
    done = [f"default space: {import_ndjson(base, to_ndjson(objects))['successCount']} objects"]
    if spaces:
        for code, name in router.unit_names.items():
            ensure_space(base, code, name)
            keep = [o for o in objects if o["type"] != "search"
                    or o["id"] in (search_id(code), "finwatch-search-all")]
            result = import_ndjson(base, to_ndjson(keep), space=space_id(code))
            done.append(f"space {space_id(code)} ({name}): {result['successCount']} objects")
    return done


def _cmd_kibana(args: argparse.Namespace) -> int:
    if args.action == "export":
        text = to_ndjson(build_objects(Router.from_file(), args.index_prefix))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {len(text.splitlines())} saved objects to {out}")
        return 0
    try:
        for line in setup(args.url.rstrip("/"), prefix=args.index_prefix, spaces=args.spaces):
            print(line)
    except KibanaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kibana", help="import the Kibana data view, searches and dashboard")
    p.add_argument("action", choices=["setup", "export"])
    p.add_argument("--url", default=kibana_base_url(),
                   help="Kibana base URL (default: $FINWATCH_KIBANA_URL or http://127.0.0.1:5601)")
    p.add_argument("--spaces", action="store_true", help="also one Kibana space per unit")
    p.add_argument("--index-prefix",
                   default=os.environ.get("FINWATCH_INDEX_PREFIX", DEFAULT_PREFIX))
    p.add_argument("--out", default=str(NDJSON_PATH), help="export: where to write the NDJSON")
    p.set_defaults(func=_cmd_kibana)


def mapping_fields(properties: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field path of an index mapping, including object children and multi-fields."""
    fields: set[str] = set()
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        fields.add(path)
        fields |= mapping_fields(spec.get("properties", {}), f"{path}.")
        fields |= {f"{path}.{sub}" for sub in spec.get("fields", {})}
    return fields


def _used_fields(obj: dict[str, Any]) -> set[str]:
    attrs, used = obj["attributes"], set()
    if obj["type"] == "index-pattern" and attrs.get("timeFieldName"):
        used.add(attrs["timeFieldName"])
    if obj["type"] == "search":
        used |= set(attrs.get("columns", [])) | {s[0] for s in attrs.get("sort", [])}
    if obj["type"] == "visualization":
        for agg in json.loads(attrs["visState"]).get("aggs", []):
            if field := agg.get("params", {}).get("field"):
                used.add(field)
    source = json.loads(attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
    query = source.get("query", {}).get("query", "")
    used |= set(re.findall(r"([A-Za-z_][\w.]*)\s*:", query))
    return used


def validate_objects(objects: list[dict[str, Any]], fields: set[str]) -> list[str]:
    """Problems that would break an import or a panel: missing keys, dangling references,
    reference names not declared, fields absent from the alert mapping. [] when all is well."""
    problems: list[str] = []
    known = {(o.get("type"), o.get("id")) for o in objects}
    if len(known) != len(objects):
        problems.append("duplicate (type, id) pairs")
    for obj in objects:
        where = f"{obj.get('type')}/{obj.get('id')}"
        missing = {"id", "type", "attributes", "references"} - set(obj)
        if missing:
            problems.append(f"{where}: missing {sorted(missing)}")
            continue
        if not obj["attributes"].get("title"):
            problems.append(f"{where}: no title")
        names = {r["name"] for r in obj["references"]}
        for ref in obj["references"]:
            if (ref["type"], ref["id"]) not in known:
                problems.append(f"{where}: reference {ref['name']} -> {ref['type']}/{ref['id']} "
                                "not in the file")
        text = json.dumps(obj["attributes"], ensure_ascii=False)
        for ref_name in re.findall(r'(?:indexRefName|panelRefName)\\?":\s*\\?"([^"\\]+)', text):
            if ref_name not in names:
                problems.append(f"{where}: {ref_name} used but not in references")
        for field in sorted(_used_fields(obj) - fields):
            problems.append(f"{where}: field {field!r} is not in the alert mapping")
    return problems
