"""Incremental crawling on the real node: 304s and hashes for unchanged pages, new alerts only
for changed content, and one crawl-health record per site per run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import REPO_ROOT
from monitor.demo_server import DemoSites
from monitor.store import Store

pytestmark = pytest.mark.es


@pytest.fixture
def editable_site(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A copy of the xinrongbao demo site on its own address, so a test may change its pages."""
    root = tmp_path / "sites"
    shutil.copytree(REPO_ROOT / "demo" / "sites" / "xinrongbao", root / "inc_platform")
    sites_file = tmp_path / "sites.yaml"
    sites_file.write_text("""version: 1
defaults: {ad_selectors: [".ad-slot"], listing_selectors: [".listing"]}
sites:
  - {id: inc_platform, name: 鑫融宝, kind: platform, start_urls: ["http://127.0.0.31:18600/"]}
""", encoding="utf-8")
    with DemoSites(sites_file, root):
        yield sites_file, root / "inc_platform"


def crawl(sites_file: Path, store: Store, es_url: str, spool: Path) -> None:
    env = {**os.environ, "ELASTICSEARCH_URL": es_url, "FINWATCH_SPOOL_DIR": str(spool)}
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "crawl", "--sites", str(sites_file),
         "--index-prefix", store.prefix], cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    store.refresh()


def runs(store: Store) -> list[dict]:
    return sorted(store.iter_all("crawls"), key=lambda r: r["finished_at"])


def test_unchanged_pages_cost_a_304_and_changed_ones_a_new_alert(
        store: Store, es_url: str, editable_site: tuple[Path, Path], tmp_path: Path) -> None:
    sites_file, site_root = editable_site
    crawl(sites_file, store, es_url, tmp_path / "spool")
    first_alerts = {a["alert_id"] for a in store.iter_all("alerts")}
    assert first_alerts
    (first,) = runs(store)
    assert first["new"] == first["pages"] >= 5 and first["alerts"] == len(first_alerts)

    crawl(sites_file, store, es_url, tmp_path / "spool")
    assert {a["alert_id"] for a in store.iter_all("alerts")} == first_alerts
    second = runs(store)[-1]
    assert second["run_id"] != first["run_id"]
    assert second["not_modified"] == second["pages"] and second["alerts"] == 0

    index = site_root / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "年化15%" in html
    index.write_text(html.replace("年化15%", "年化16%"), encoding="utf-8")
    crawl(sites_file, store, es_url, tmp_path / "spool")
    third = runs(store)[-1]
    assert third["changed"] == 1 and third["not_modified"] == third["pages"] - 1
    new = [a for a in store.iter_all("alerts") if a["alert_id"] not in first_alerts]
    assert len(new) == 1
    assert "年化16%" in new[0]["text"] and new[0]["page_change"] == "changed"
    home = store.client.get(index=store.docs_index,
                            id=new[0]["doc_id"])["_source"]
    assert home["change"] == "changed" and new[0]["alert_id"] in home["alert_ids"]


def test_every_alert_has_verifiable_evidence_files(
        store: Store, es_url: str, editable_site: tuple[Path, Path], tmp_path: Path) -> None:
    evidence_dir = tmp_path / "evidence"
    os.environ["FINWATCH_EVIDENCE_DIR"] = str(evidence_dir)
    try:
        sites_file, _ = editable_site
        crawl(sites_file, store, es_url, tmp_path / "spool")
    finally:
        del os.environ["FINWATCH_EVIDENCE_DIR"]
    alerts = list(store.iter_all("alerts"))
    assert alerts
    for alert in alerts:
        files = alert["evidence_files"]
        html, png = Path(files["html_path"]), Path(files["png_path"])
        assert html.parent.parent == evidence_dir and html.name == files["html_sha256"] + ".html"
        assert png.read_bytes().startswith(b"\x89PNG")
        assert "鑫融宝" in html.read_text(encoding="utf-8")
    env = {**os.environ, "ELASTICSEARCH_URL": es_url}
    command = [sys.executable, "-m", "monitor.cli", "evidence", alerts[0]["alert_id"],
               "--index-prefix", store.prefix]
    ok = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("sha256 verified") == 2
    Path(alerts[0]["evidence_files"]["png_path"]).write_bytes(b"tampered")
    bad = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "MISMATCH" in bad.stdout
