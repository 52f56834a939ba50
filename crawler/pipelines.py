"""Item pipelines: classify each page's segments, then index pages and alerts in Elasticsearch.

Wired by ITEM_PIPELINES in crawler/settings.py; each is built with `from_crawler` so it can
count what it did in the crawl stats.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from crawler.items import PageItem
from monitor.config import zh_label
from monitor.routing import Router
from monitor.spool import Spool
from monitor.store import Store, StoreUnavailable
from nlp.classifier import load_classifier
from nlp.normalize import normalize
from nlp.segment import segment_words

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
VERDICT_RANK = {"other": 0, "financial": 1, "violation": 2}


def alert_id(domain: str, text: str) -> str:
    """Same content on the same site -> same id, so a re-crawl never duplicates an alert."""
    return hashlib.sha256(f"{domain}\n{normalize(text)}".encode()).hexdigest()[:40]


def doc_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:40]


def summary_zh(violations: list[str], evidence: list[dict[str, Any]]) -> str:
    """One Chinese line an analyst reads first: each violation with the words that showed it."""
    parts = []
    for code in violations:
        quotes = list(dict.fromkeys(e["text"] for e in evidence if e["code"] == code))[:3]
        shown = "、".join(f"“{q}”" for q in quotes)
        parts.append(f"{zh_label('violations', code)}{'：' + shown if shown else ''}")
    return "；".join(parts)


class ClassifyPipeline:
    """Judge each segment; flagged segments become alerts routed to the responsible units."""

    def __init__(self, stats: StatsCollector, router: Router) -> None:
        self.stats = stats
        self.router = router
        self.classifier = load_classifier()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ClassifyPipeline:
        return cls(crawler.stats, Router.from_file())

    def process_item(self, item: PageItem, spider: Spider) -> PageItem:
        if item.change in ("unchanged", "not_modified"):
            item.doc = {"doc_id": doc_id(item.url), "last_checked": item.fetched_at,
                        "change": item.change}
            return item
        page_verdict, page_risk = "other", 0.0
        page_sector, page_violations, units = "none", [], []
        alert_ids: list[str] = []
        for segment in item.segments:
            try:
                result = self.classifier.classify_text(segment.text, title=item.title)
            except ValueError as exc:
                self.stats.inc_value("finwatch/classify_errors")
                log.warning("could not classify a %s segment of %s: %s",
                            segment.kind, item.url, exc)
                continue
            if VERDICT_RANK[result.verdict] > VERDICT_RANK[page_verdict] or (
                    result.verdict == page_verdict and result.risk_score > page_risk):
                page_verdict, page_sector = result.verdict, result.sector
            page_risk = max(page_risk, result.risk_score)
            if result.verdict != "violation":
                continue
            alert = self._alert(item, segment.kind, segment.text, result)
            item.alerts.append(alert)
            alert_ids.append(alert["alert_id"])
            page_violations += result.violations
            units += alert["units"]
            self.stats.inc_value(f"finwatch/alerts/{item.site_id}")
        item.doc = {
            "doc_id": doc_id(item.url), "schema_version": SCHEMA_VERSION,
            "url": item.url, "domain": item.domain, "site": item.site_id,
            "site_name": item.site_name, "site_kind": item.site_kind, "title": item.title,
            "text": item.text, "text_words": " ".join(segment_words(item.text)),
            "http_status": item.http_status, "content_type": item.content_type,
            "encoding": item.encoding, "encoding_repaired": item.encoding_repaired,
            "rendered": item.rendered, "content_sha256": item.content_sha256,
            "segments": len(item.segments), "verdict": page_verdict, "sector": page_sector,
            "violations": sorted(set(page_violations)), "risk_score": round(page_risk, 4),
            "alert_ids": alert_ids, "units": list(dict.fromkeys(units)),
            "fetched_at": item.fetched_at, "last_checked": item.fetched_at,
            "change": item.change, "etag": item.etag, "last_modified": item.last_modified,
            "links": item.links,
        }
        return item

    def _alert(self, item: PageItem, kind: str, text: str, result: Any) -> dict[str, Any]:
        evidence = [e.__dict__ if hasattr(e, "__dict__") else dict(e) for e in result.evidence]
        evidence = [{k: ev[k] for k in ("code", "start", "end", "text", "rule")} for ev in evidence]
        units = self.router.route(result.sector, list(result.violations))
        return {
            "alert_id": alert_id(item.domain, text), "schema_version": SCHEMA_VERSION,
            "kind": kind, "page_change": item.change, "site": item.site_id,
            "site_name": item.site_name,
            "site_kind": item.site_kind, "domain": item.domain, "url": item.url,
            "doc_id": doc_id(item.url), "page_title": item.title, "text": text,
            "text_words": " ".join(segment_words(text)),
            "verdict": result.verdict, "verdict_zh": zh_label("verdicts", result.verdict),
            "sector": result.sector, "sector_zh": zh_label("sectors", result.sector),
            "violations": list(result.violations),
            "violations_zh": [zh_label("violations", v) for v in result.violations],
            "risk_score": round(float(result.risk_score), 4),
            "summary_zh": summary_zh(list(result.violations), evidence),
            "evidence": evidence, "units": units, "lead_unit": units[0] if units else None,
            "classifier": self.classifier.name_version, "content_sha256":
                hashlib.sha256(text.encode()).hexdigest(),
            "fetched_at": item.fetched_at, "first_seen": item.fetched_at,
            "last_seen": item.fetched_at,
        }


class ElasticsearchPipeline:
    """Bulk-index pages and alerts; what Elasticsearch cannot take goes to the disk spool."""

    def __init__(self, stats: StatsCollector, batch_size: int, prefix: str | None,
                 spool: Spool) -> None:
        self.stats = stats
        self.batch_size = batch_size
        self.prefix = prefix
        self.spool = spool
        self.store: Store | None = None
        self.pending: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ElasticsearchPipeline:
        settings = crawler.settings
        return cls(crawler.stats, settings.getint("FINWATCH_BULK_SIZE", 200),
                   settings.get("FINWATCH_INDEX_PREFIX"), Spool.default())

    def open_spider(self, spider: Spider) -> None:
        try:
            self.store = Store.from_env(self.prefix)
            self.store.ensure_templates()
        except StoreUnavailable as exc:
            log.error("Elasticsearch unavailable at crawl start, spooling to %s: %s",
                      self.spool.path, exc)
            self.store = None

    def process_item(self, item: PageItem, spider: Spider) -> PageItem:
        kind = "doc_checks" if item.change in ("unchanged", "not_modified") else "docs"
        self.pending.append({"kind": kind, "body": item.doc})
        self.pending.extend({"kind": "alerts", "body": alert} for alert in item.alerts)
        if len(self.pending) >= self.batch_size:
            self.flush()
        return item

    def close_spider(self, spider: Spider) -> None:
        self.flush()

    def _action(self, record: dict[str, Any]) -> dict[str, Any]:
        assert self.store is not None
        return self.store.action(record["kind"], record["body"])

    def flush(self) -> None:
        records, self.pending = self.pending, []
        if not records:
            return
        if self.store is None:
            self._spool(records, "Elasticsearch not connected")
            return
        try:
            outcome = self.store.bulk(self._action(r) for r in records)
        except StoreUnavailable as exc:
            self._spool(records, str(exc))
            return
        self.stats.inc_value("finwatch/indexed", outcome.ok)
        if outcome.failed:
            failed_ids = {next(iter(f.values())).get("_id") for f in outcome.failed}
            kept = [r for r in records
                    if (r["body"].get("alert_id") or r["body"].get("doc_id")) in failed_ids]
            for failure in outcome.failed:
                log.error("Elasticsearch rejected %s", failure)
            self._spool(kept, f"{len(outcome.failed)} item(s) rejected by Elasticsearch")

    def _spool(self, records: list[dict[str, Any]], reason: str) -> None:
        self.spool.append(records)
        self.stats.inc_value("finwatch/spooled", len(records))
        log.error("%s: %d record(s) kept in spool %s for replay (`finwatch spool replay`)",
                  reason, len(records), self.spool.path)
