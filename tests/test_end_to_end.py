"""Crawl the bundled demo sites into the real local Elasticsearch and check what came out.

The crawl runs as `finwatch crawl` in a child process, as in production (Twisted's reactor
cannot restart inside the test process). Ground truth: demo/expected.yaml.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from monitor.config import REPO_ROOT
from monitor.store import Store, connect

pytestmark = pytest.mark.es

EXPECTED = yaml.safe_load((REPO_ROOT / "demo" / "expected.yaml").read_text(encoding="utf-8"))
VIOLATIONS = [i for i in EXPECTED["items"] if i["verdict"] == "violation"]
LAWFUL = [i for i in EXPECTED["items"] if i["verdict"] != "violation"]


def finwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def crawled(es_url: str, demo_sites: dict[str, str], tmp_path_factory) -> Iterator[Store]:
    """One crawl of all demo sites into indexes of this module's own."""
    store = Store(connect(es_url), prefix=f"fwtest-e2e-{os.getpid()}")
    spool = tmp_path_factory.mktemp("spool")
    env = {"ELASTICSEARCH_URL": es_url, "FINWATCH_SPOOL_DIR": str(spool),
           "FINWATCH_EVIDENCE_DIR": str(tmp_path_factory.mktemp("evidence"))}
    result = finwatch("crawl", "--index-prefix", store.prefix, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    store.refresh()
    store.crawl_output = result.stdout  # type: ignore[attr-defined]
    store.env = env  # type: ignore[attr-defined]
    yield store
    store.drop()


def alerts_with(store: Store, item: dict) -> list[dict]:
    return [a for a in store.iter_all("alerts")
            if a["site"] == item["site"] and item["snippet"] in a["text"]]


def test_every_demo_site_was_crawled(crawled: Store) -> None:
    docs = list(crawled.iter_all("docs"))
    assert {d["site"] for d in docs} == {
        "baodi_news", "baodi_classifieds", "baodi_forum", "xinrongbao", "jinhui_wealth",
        "anxin_insurance"}
    assert len(docs) >= 30
    assert "fetch errors" in crawled.crawl_output  # the summary line


@pytest.mark.parametrize("item", VIOLATIONS, ids=lambda i: f"{i['site']}:{i['snippet'][:12]}")
def test_each_illegal_promotion_is_an_alert_with_evidence(crawled: Store, item: dict) -> None:
    hits = alerts_with(crawled, item)
    assert hits, f"not flagged: {item['snippet']}"
    alert = hits[0]
    assert alert["verdict"] == "violation"
    assert set(item["violations"]) & set(alert["violations"]), alert["violations"]
    assert alert["evidence"], "an alert must carry its evidence"
    for ev in alert["evidence"]:
        assert alert["text"][ev["start"]:ev["end"]] == ev["text"]
    assert urlsplit(alert["url"]).hostname == urlsplit(alert["url"]).hostname
    assert alert["units"] and alert["lead_unit"] == alert["units"][0]
    assert alert["summary_zh"]
    files = alert["evidence_files"]
    assert files["html_sha256"] and files["png_sha256"], files.get("screenshot_error")


@pytest.mark.parametrize("item", LAWFUL, ids=lambda i: f"{i['site']}:{i['snippet'][:12]}")
def test_lawful_content_is_not_flagged(crawled: Store, item: dict) -> None:
    assert alerts_with(crawled, item) == []


def test_gbk_pages_are_decoded_including_the_header_conflict(crawled: Store) -> None:
    docs = {urlsplit(d["url"]).path: d for d in crawled.iter_all("docs")
            if d["site"] == "baodi_classifieds"}
    listing = docs["/list.html"]
    assert listing["encoding_repaired"] is True  # header said utf-8, body is GBK
    assert "招聘普工20名" in listing["text"]
    assert all("\ufffd" not in d["text"] for d in docs.values())


def test_script_inserted_ad_was_rendered_with_chromium(crawled: Store) -> None:
    assert shutil.which("chromium") or Path("/usr/bin/chromium").exists(), \
        "Chromium missing: scripts/bootstrap.sh installs Debian's chromium"
    home = [d for d in crawled.iter_all("docs") if d["url"] == "http://127.0.0.13:18600/"][0]
    assert home["rendered"] is True
    assert "宝富理财" in home["text"]


def test_recrawl_creates_no_duplicate_alerts(crawled: Store) -> None:
    before = sorted(a["alert_id"] for a in crawled.iter_all("alerts"))
    result = finwatch("crawl", "--index-prefix", crawled.prefix, "--site", "baodi_news",
                      "--site", "xinrongbao", env=crawled.env)  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stderr[-2000:]
    crawled.refresh()
    assert sorted(a["alert_id"] for a in crawled.iter_all("alerts")) == before


def test_search_command_prints_matching_alerts(crawled: Store) -> None:
    result = finwatch("search", "首付贷", "--index-prefix", crawled.prefix,
                      env=crawled.env)  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stderr
    assert "首付贷" in result.stdout and "区房管局" in result.stdout
    as_json = finwatch("search", "--json", "--unit", "gafj", "--index-prefix", crawled.prefix,
                       env=crawled.env)  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert lines and all("gafj" in a["units"] for a in lines)


def test_unreachable_elasticsearch_spools_everything(demo_sites: dict[str, str],
                                                     tmp_path: Path) -> None:
    env = {"ELASTICSEARCH_URL": "http://127.0.0.1:9", "FINWATCH_SPOOL_DIR": str(tmp_path),
           "FINWATCH_EVIDENCE_DIR": str(tmp_path / "evidence"),
           "FINWATCH_EVIDENCE_SCREENSHOT": "0"}
    result = finwatch("crawl", "--site", "baodi_news", "--index-prefix", "fwtest-down", env=env)
    assert result.returncode == 1  # the operator must notice
    assert "spool" in result.stderr
    records = [json.loads(x) for x in (tmp_path / "pending.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds.count("docs") >= 5 and kinds.count("alerts") >= 3
