"""Distributed mode against a real Redis (Debian's redis-server) on loopback: two worker
processes split one crawl of the demo sites with nothing crawled twice and nothing missed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from monitor.config import REPO_ROOT
from monitor.store import Store

pytestmark = pytest.mark.es


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    assert server, "redis-server missing: scripts/bootstrap.sh installs Debian's redis-server"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_two_workers_split_one_crawl_without_duplicates(
        store: Store, es_url: str, redis_url: str, demo_sites: dict[str, str],
        tmp_path: Path) -> None:
    env = {**os.environ, "ELASTICSEARCH_URL": es_url, "FINWATCH_REDIS_URL": redis_url,
           "FINWATCH_SPOOL_DIR": str(tmp_path / "spool"),
           "FINWATCH_EVIDENCE_DIR": str(tmp_path / "evidence"),
           "FINWATCH_EVIDENCE_SCREENSHOT": "0",
           # A worker holds up to this many requests locally; the demo is only 29 pages.
           "FINWATCH_CONCURRENT_REQUESTS": "2"}
    # The demo sites with a polite delay, as a real district's sites would be configured, so a
    # crawl lasts long enough for the second worker to join it.
    sites = (REPO_ROOT / "config" / "sites.yaml").read_text(encoding="utf-8")
    sites_file = tmp_path / "sites.yaml"
    sites_file.write_text(sites.replace("download_delay: 0 ", "download_delay: 0.4 "),
                          encoding="utf-8")
    command = [sys.executable, "-m", "monitor.cli", "crawl", "--index-prefix", store.prefix,
               "--sites", str(sites_file), "--run-id", "test-run-1", "--site", "baodi_news",
               "--site", "baodi_classifieds", "--site", "xinrongbao", "--site", "jinhui_wealth",
               "--site", "anxin_insurance"]
    workers = [subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=240) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    store.refresh()
    urls = [d["url"] for d in store.iter_all("docs")]
    assert len(urls) == 29  # every page of the five sites (see demo/README.md)
    records = list(store.iter_all("crawls"))
    per_worker: dict[str, int] = {}
    for record in records:
        worker = record["run_id"]
        assert worker.startswith("test-run-1.")
        per_worker[worker] = per_worker.get(worker, 0) + record["pages"]
    assert len(per_worker) == 2
    assert sum(per_worker.values()) == len(urls)  # no page fetched by both workers
    assert all(pages > 0 for pages in per_worker.values()), per_worker  # the work was split
    leftover = redis.Redis.from_url(redis_url).keys("finwatch:test-run-1:*")
    assert leftover == []  # the run's keys are removed when the last worker ends
