"""What a unit's weekly digest says, read from Elasticsearch.

New alerts are those whose `first_seen` falls in the week (an upserted alert keeps its first
sighting), so "new this week" never counts a re-crawl twice. The entity section reads
`<prefix>-entities` (一户一档, a later issue) when that index exists; the fields assumed there:

    entity_id (keyword), name (keyword), status (keyword, shown as stored, e.g. 整改中),
    status_changed_at (date), units (keyword, like alerts), history ([{status, at}], oldest
    first; the entry before the last one is the previous status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from elasticsearch import ApiError, TransportError

from monitor.digest.week import Week, local_zone
from monitor.store import Store, StoreUnavailable

SNIPPET_WIDTH = 140
SNIPPET_LEAD = 30


@dataclass
class AlertView:
    """One alert as the templates show it; `snippet` is (text, is_evidence) pieces, unescaped."""

    alert_id: str
    site_name: str
    url: str
    link: str | None  # the URL when it is http(s), else None: never an href from crawled junk
    sector_zh: str
    violations_zh: list[str]
    risk_score: float
    first_seen: str
    summary_zh: str
    snippet: list[tuple[str, bool]]


@dataclass
class EntityChange:
    entity_id: str
    name: str
    previous_status: str | None
    status: str
    changed_at: str


@dataclass
class DigestData:
    unit: str
    unit_name: str
    week: Week
    total: int = 0
    previous_total: int = 0
    still_seen: int = 0
    per_day: list[tuple[date, int]] = field(default_factory=list)
    per_sector: list[tuple[str, int]] = field(default_factory=list)
    per_violation: list[tuple[str, int]] = field(default_factory=list)
    per_site: list[tuple[str, int]] = field(default_factory=list)
    top: list[AlertView] = field(default_factory=list)
    entity_changes: list[EntityChange] = field(default_factory=list)

    @property
    def change(self) -> int:
        return self.total - self.previous_total


def _range(week: Week, name: str = "first_seen") -> dict[str, Any]:
    return {"range": {name: {"gte": week.start.isoformat(), "lt": week.end.isoformat()}}}


def highlight(text: str, spans: list[tuple[int, int]],
              width: int = SNIPPET_WIDTH) -> list[tuple[str, bool]]:
    """A window of `text` around the first evidence span, split into plain and evidence pieces."""
    spans = sorted((max(0, s), min(len(text), e)) for s, e in spans if e > s)
    begin = max(0, spans[0][0] - SNIPPET_LEAD) if spans else 0
    end = min(len(text), begin + width)
    pieces: list[tuple[str, bool]] = [("…", False)] if begin > 0 else []
    cursor = begin
    for s, e in spans:
        s, e = max(s, cursor), min(e, end)
        if s >= e:
            continue
        if s > cursor:
            pieces.append((text[cursor:s], False))
        pieces.append((text[s:e], True))
        cursor = e
    if cursor < end:
        pieces.append((text[cursor:end], False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces


def _local_time(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(local_zone()).strftime("%m-%d %H:%M")


def alert_view(src: dict[str, Any]) -> AlertView:
    url = str(src.get("url", ""))
    link = url if urlsplit(url).scheme in ("http", "https") else None
    spans = [(int(ev["start"]), int(ev["end"])) for ev in src.get("evidence", [])]
    return AlertView(
        alert_id=str(src.get("alert_id", "")), site_name=str(src.get("site_name", "")), url=url,
        link=link, sector_zh=str(src.get("sector_zh", "")),
        violations_zh=list(src.get("violations_zh", [])),
        risk_score=float(src.get("risk_score", 0.0)),
        first_seen=_local_time(src.get("first_seen")),
        summary_zh=str(src.get("summary_zh", "")),
        snippet=highlight(str(src.get("text", "")), spans),
    )


def _buckets(resp: dict[str, Any], name: str) -> list[tuple[str, int]]:
    return [(str(b["key"]), int(b["doc_count"])) for b in resp["aggregations"][name]["buckets"]]


def collect(store: Store, unit: str, unit_name: str, week: Week, *, top_n: int = 10) -> DigestData:
    """Every number and list of one unit's digest for one week."""
    client, index = store.client, store.alerts_index
    unit_filter = {"term": {"units": unit}}
    data = DigestData(unit=unit, unit_name=unit_name, week=week)
    try:
        resp = client.search(
            index=index, size=top_n, track_total_hits=True,
            query={"bool": {"filter": [unit_filter, _range(week)]}},
            sort=[{"risk_score": "desc"}, {"first_seen": "desc"}],
            aggs={
                "per_day": {"date_histogram": {
                    "field": "first_seen", "calendar_interval": "day",
                    "time_zone": str(local_zone()), "min_doc_count": 0}},
                "per_sector": {"terms": {"field": "sector_zh", "size": 20}},
                "per_violation": {"terms": {"field": "violations_zh", "size": 20}},
                "per_site": {"terms": {"field": "site_name", "size": 10}},
            })
        data.previous_total = int(client.count(index=index, query={"bool": {"filter": [
            unit_filter, _range(week.previous())]}})["count"])
        data.still_seen = int(client.count(index=index, query={"bool": {"filter": [
            unit_filter, _range(week, "last_seen"),
            {"range": {"first_seen": {"lt": week.start.isoformat()}}}]}})["count"])
    except (TransportError, ApiError) as exc:
        raise StoreUnavailable(f"digest query on {index} failed: {exc}") from exc
    data.total = int(resp["hits"]["total"]["value"])
    by_day = {datetime.fromtimestamp(b["key"] / 1000, local_zone()).date(): int(b["doc_count"])
              for b in resp["aggregations"]["per_day"]["buckets"]}
    data.per_day = [(day, by_day.get(day, 0)) for day in week.days]
    data.per_sector = _buckets(resp, "per_sector")
    data.per_violation = _buckets(resp, "per_violation")
    data.per_site = _buckets(resp, "per_site")
    data.top = [alert_view(hit["_source"]) for hit in resp["hits"]["hits"]]
    data.entity_changes = entity_changes(store, unit, week)
    return data


def entity_changes(store: Store, unit: str, week: Week, size: int = 50) -> list[EntityChange]:
    """Entities of this unit whose case status changed in the week; [] until the index exists."""
    index = store.index("entities")
    try:
        if not store.client.indices.exists(index=index):
            return []
        resp = store.client.search(
            index=index, size=size,
            query={"bool": {"filter": [{"term": {"units": unit}},
                                       _range(week, "status_changed_at")]}},
            sort=[{"status_changed_at": "desc"}])
    except (TransportError, ApiError) as exc:
        raise StoreUnavailable(f"digest query on {index} failed: {exc}") from exc
    changes = []
    for hit in resp["hits"]["hits"]:
        src = hit["_source"]
        history = src.get("history") or []
        previous = history[-2].get("status") if len(history) >= 2 else None
        changes.append(EntityChange(
            entity_id=str(src.get("entity_id", hit["_id"])), name=str(src.get("name", "")),
            previous_status=previous, status=str(src.get("status", "")),
            changed_at=_local_time(src.get("status_changed_at"))))
    return changes
