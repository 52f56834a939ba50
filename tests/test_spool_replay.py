"""Replaying the spool into the real Elasticsearch node: in order, and nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import REPO_ROOT
from monitor.spool import Spool
from monitor.store import Store, StoreUnavailable, connect

pytestmark = pytest.mark.es


def doc(doc_id: str, text: str, **extra: object) -> dict:
    return {"kind": "docs", "body": {"doc_id": doc_id, "url": f"http://127.0.0.11/{doc_id}",
                                     "site": "baodi_news", "text": text, **extra}}


def alert(alert_id: str) -> dict:
    return {"kind": "alerts", "body": {"alert_id": alert_id, "url": "http://127.0.0.11/a",
                                       "site": "baodi_news", "text": "保本保息",
                                       "last_seen": "2026-01-05T08:00:00+08:00"}}


def sources(store: Store, kind: str) -> dict[str, dict]:
    store.refresh()
    key = "doc_id" if kind == "docs" else "alert_id"
    return {s[key]: s for s in store.iter_all(kind)}


def test_replay_writes_every_record_in_order_and_empties_the_spool(store: Store,
                                                                   tmp_path: Path) -> None:
    spool = Spool(tmp_path / "pending.jsonl")
    spool.append([doc("d1", "第一版"), alert("a1")])
    spool.append([doc("d2", "其他"), doc("d1", "第二版")])  # a later crawl of d1
    assert spool.replay(store) == 4
    assert not spool.path.exists()
    docs = sources(store, "docs")
    assert set(docs) == {"d1", "d2"} and docs["d1"]["text"] == "第二版"  # the later one wins
    assert set(sources(store, "alerts")) == {"a1"}


def test_a_record_elasticsearch_rejects_stays_in_the_spool(store: Store, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "pending.jsonl")
    rejected = doc("bad", "字段", not_in_mapping=1)  # the docs mapping is strict
    spool.append([doc("d1", "甲"), rejected, alert("a1")])
    assert spool.replay(store) == 2
    assert spool.read() == [rejected]
    assert set(sources(store, "docs")) == {"d1"}
    assert set(sources(store, "alerts")) == {"a1"}


def test_unreachable_cluster_leaves_the_spool_untouched(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "pending.jsonl")
    spool.append([doc("d1", "甲")])
    before = spool.path.read_bytes()
    with pytest.raises(StoreUnavailable):
        spool.replay(Store(connect("http://127.0.0.1:9"), prefix="fwtest-down"))
    assert spool.path.read_bytes() == before


def test_spool_commands_show_and_replay(store: Store, es_url: str, tmp_path: Path) -> None:
    Spool(tmp_path / "pending.jsonl").append([doc("d1", "甲"), alert("a1")])
    env = {**os.environ, "ELASTICSEARCH_URL": es_url, "FINWATCH_SPOOL_DIR": str(tmp_path)}

    def finwatch(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "monitor.cli", "spool", *args],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)

    status = finwatch("status")
    assert status.returncode == 0 and "2 record(s) (alerts: 1, docs: 1)" in status.stdout
    replay = finwatch("replay", "--index-prefix", store.prefix)
    assert replay.returncode == 0, replay.stderr
    assert "replayed 2 record(s); 0 kept" in replay.stdout
    assert set(sources(store, "docs")) == {"d1"}
