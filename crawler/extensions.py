"""Crawl health in Elasticsearch: one record per site per run, so an operator sees it in Kibana.

Why an extension: it needs the whole run's stats, which exist only when the spider closes.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from monitor.spool import Spool
from monitor.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

CHANGES = ("new", "changed", "unchanged", "not_modified")


def run_records(stats: dict[str, Any], site_ids: list[str], run_id: str,
                reason: str) -> list[dict[str, Any]]:
    """Per-site crawl records out of Scrapy's flat stats dict."""
    started = stats.get("start_time")
    records = []
    for site in site_ids:
        record: dict[str, Any] = {
            "run_id": run_id, "site": site,
            "started_at": started.isoformat() if started else None,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "finish_reason": reason,
            "pages": stats.get(f"finwatch/pages/{site}", 0),
            "errors": stats.get(f"finwatch/fetch_errors/{site}", 0),
            "alerts": stats.get(f"finwatch/alerts/{site}", 0),
            "encoding_repaired": stats.get("finwatch/encoding_repaired", 0),
            "spooled": stats.get("finwatch/spooled", 0),
        }
        record.update({c: stats.get(f"finwatch/change/{site}/{c}", 0) for c in CHANGES})
        records.append(record)
    return records


class CrawlRunRecorder:
    """Writes the run's per-site records to `<prefix>-crawls` (or the spool) at spider close."""

    def __init__(self, stats: StatsCollector, prefix: str | None,
                 shared_run_id: str | None = None) -> None:
        self.stats = stats
        self.prefix = prefix
        # Workers of one distributed run share its id; each keeps a record of its own.
        worker = uuid.uuid4().hex
        self.run_id = f"{shared_run_id}.{worker[:8]}" if shared_run_id else worker

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRunRecorder:
        recorder = cls(crawler.stats, crawler.settings.get("FINWATCH_INDEX_PREFIX"),
                       crawler.settings.get("FINWATCH_RUN_ID"))
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def spider_closed(self, spider: Spider, reason: str) -> None:
        site_ids = list(getattr(spider, "sites", {}))
        records = run_records(self.stats.get_stats(), site_ids, self.run_id, reason)
        try:
            store = Store.from_env(self.prefix)
            store.ensure_templates()
            outcome = store.bulk(store.action("crawls", r) for r in records)
            if not outcome.failed:
                return
            log.error("Elasticsearch rejected crawl records: %s", outcome.failed)
        except StoreUnavailable as exc:
            log.error("crawl records not indexed: %s", exc)
        spool = Spool.default()
        spool.append({"kind": "crawls", "body": r} for r in records)
        log.error("crawl records kept in spool %s", spool.path)
