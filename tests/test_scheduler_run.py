"""`finwatch serve --run-now` really crawls: a demo site ends up in the real Elasticsearch node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from monitor.config import CONFIG_DIR, REPO_ROOT
from monitor.store import Store, connect

pytestmark = pytest.mark.es

SITE = "anxin_insurance"  # the smallest demo site


def one_site_file(path: Path) -> Path:
    """config/sites.yaml reduced to one site, with an hourly schedule."""
    config = yaml.safe_load((CONFIG_DIR / "sites.yaml").read_text(encoding="utf-8"))
    site = next(s for s in config["sites"] if s["id"] == SITE)
    data = {"version": 1, "defaults": config.get("defaults") or {},
            "sites": [{**site, "schedule": {"every_minutes": 60}}]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, f"serve exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()}"
        time.sleep(0.2)


def test_serve_run_now_crawls_the_site_into_elasticsearch(
        es_url: str, demo_sites: dict[str, str], tmp_path: Path) -> None:
    store = Store(connect(es_url), prefix=f"fwtest-serve-{os.getpid()}")
    env = {**os.environ, "ELASTICSEARCH_URL": es_url, "FINWATCH_INDEX_PREFIX": store.prefix,
           "FINWATCH_SPOOL_DIR": str(tmp_path / "spool"),
           "FINWATCH_EVIDENCE_DIR": str(tmp_path / "evidence"),
           "FINWATCH_SCHEDULER_DB": f"sqlite:///{tmp_path / 'jobs.sqlite'}"}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        serve = subprocess.Popen([sys.executable, "-m", "monitor.cli", "serve", "--run-now",
                                  "--sites", str(one_site_file(tmp_path / "sites.yaml"))],
                                 cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_line(log, f"crawl {SITE}: exit code 0: crawl finished", serve, timeout=120)
        store.refresh()
        docs = list(store.iter_all("docs"))
        assert docs, log.read_text()[-5000:]
        assert {d["site"] for d in docs} == {SITE}
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0, log.read_text()
    finally:
        serve.kill()
        store.drop()
