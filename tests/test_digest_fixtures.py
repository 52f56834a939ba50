"""Synthetic alerts for the digest tests (no tests here): one ISO week, 2026-W48, in the users'
zone (Asia/Shanghai), with alerts placed on the week's edges and one hostile alert."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.store import Store, connect

_counter = itertools.count()

WEEK = "2026-W48"  # Mon 2026-11-23 .. Sun 2026-11-29, Asia/Shanghai
HOSTILE_TEXT = '年化18%保本保息<script>alert("x")</script>稳赚不赔'


def make_alert(alert_id: str, units: list[str], first_seen: str, **over: Any) -> dict[str, Any]:
    text = over.pop("text", "鑫融宝 年化12%，保本保息，100元起投，限时募集中")
    start = text.find("保本保息")
    doc = {
        "alert_id": alert_id, "schema_version": 1, "kind": "ad", "site": "xinrongbao",
        "site_name": "鑫融宝", "site_kind": "platform", "domain": "127.0.0.14",
        "url": f"http://127.0.0.14:18600/{alert_id}.html", "doc_id": alert_id,
        "page_title": "鑫融宝", "text": text, "text_words": text, "verdict": "violation",
        "verdict_zh": "违规", "sector": "p2p_lending", "sector_zh": "网络借贷",
        "violations": ["guaranteed_return"], "violations_zh": ["承诺保本保收益"],
        "risk_score": 0.8, "summary_zh": "承诺保本保收益：“保本保息”",
        "evidence": [{"code": "guaranteed_return", "start": start, "end": start + 4,
                      "text": "保本保息", "rule": "GR-01"}] if start >= 0 else [],
        "units": units, "lead_unit": units[0], "classifier": "rules",
        "content_sha256": alert_id, "fetched_at": first_seen, "first_seen": first_seen,
        "last_seen": first_seen,
    }
    return doc | over


GXW = ["gxw", "scjgj", "wxb"]
ALERTS = [
    # Monday 01:30 in Tianjin, still Sunday in UTC: must count on Monday of W48.
    make_alert("a1", GXW, "2026-11-22T17:30:00+00:00", risk_score=0.9),
    make_alert("a2", GXW, "2026-11-25T03:00:00+00:00", risk_score=0.7, text=HOSTILE_TEXT,
               site_name="<b>坏站</b>", url="javascript:alert(1)"),
    # Sunday 23:59 local: last minute of W48.
    make_alert("a3", GXW, "2026-11-29T15:59:00+00:00", risk_score=0.5),
    # Monday 00:30 local of W49: not in W48.
    make_alert("a4", GXW, "2026-11-29T16:30:00+00:00"),
    # First seen in W47, seen again in W48.
    make_alert("a5", GXW, "2026-11-18T02:00:00+00:00", last_seen="2026-11-24T02:00:00+00:00"),
    # Another unit's alert.
    make_alert("a6", ["fgj", "scjgj", "wxb"], "2026-11-24T02:00:00+00:00",
               sector="real_estate_finance", sector_zh="房地产金融"),
]


@pytest.fixture(name="seeded_alerts", scope="module")
def seeded_alerts_fixture(es_url: str) -> Iterator[Store]:
    """ALERTS indexed once per test module under a prefix of its own (index creation is the
    slow part of these tests); everything under the prefix is deleted afterwards."""
    store = Store(connect(es_url), prefix=f"fwtest-digest-{os.getpid()}-{next(_counter)}")
    store.ensure_templates()
    outcome = store.bulk(store.alert_action(a) for a in ALERTS)
    assert outcome.ok == len(ALERTS), outcome.failed
    store.refresh()
    yield store
    store.drop()


@pytest.fixture(name="seeded")
def seeded_fixture(seeded_alerts: Store) -> Iterator[Store]:
    """The seeded store with a fresh digest ledger and no entities index for each test."""
    yield seeded_alerts
    seeded_alerts.client.options(ignore_status=404).indices.delete(
        index=f"{seeded_alerts.prefix}-digests,{seeded_alerts.prefix}-entities",
        ignore_unavailable=True)
