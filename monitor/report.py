"""Human summaries of what is in the store: what was crawled and what was flagged, per site."""

from __future__ import annotations

from typing import Any

from monitor.config import zh_label
from monitor.store import Store


def _buckets(resp: dict[str, Any], name: str) -> dict[str, int]:
    return {b["key"]: b["doc_count"] for b in resp["aggregations"][name]["buckets"]}


def crawl_summary(store: Store) -> str:
    """A table of pages and alerts per site, then alerts per violation type and per unit."""
    store.refresh()
    client = store.client
    docs = client.search(index=store.docs_index, size=0, aggs={
        "site": {"terms": {"field": "site", "size": 100}}})
    alerts = client.search(index=store.alerts_index, size=0, aggs={
        "site": {"terms": {"field": "site", "size": 100}},
        "violations": {"terms": {"field": "violations", "size": 50}},
        "units": {"terms": {"field": "units", "size": 50}},
    })
    pages, flagged = _buckets(docs, "site"), _buckets(alerts, "site")
    lines = [f"{'site':<20} {'pages':>6} {'alerts':>7}"]
    for site in sorted(set(pages) | set(flagged)):
        lines.append(f"{site:<20} {pages.get(site, 0):>6} {flagged.get(site, 0):>7}")
    lines.append(f"{'total':<20} {sum(pages.values()):>6} {sum(flagged.values()):>7}")
    lines.append("")
    lines.append("alerts by violation: " + ", ".join(
        f"{zh_label('violations', k)}({k}) {v}" for k, v in _buckets(alerts, "violations").items()))
    lines.append("alerts by unit: " + ", ".join(
        f"{k} {v}" for k, v in _buckets(alerts, "units").items()))
    return "\n".join(lines)


def format_alert(alert: dict[str, Any], unit_names: dict[str, str] | None = None,
                 width: int = 80) -> str:
    """Four lines per alert: score, verdict, site, units; the Chinese summary; text; URL."""
    names = unit_names or {}
    units = "、".join(names.get(u, u) for u in alert.get("units", []))
    text = alert.get("text", "").replace("\n", " ")
    snippet = text if len(text) <= width else text[: width - 1] + "…"
    return (f"[{alert.get('risk_score', 0):.2f}] {alert.get('verdict_zh', '')} "
            f"{alert.get('sector_zh', '')} | {alert.get('site_name', '')} | "
            f"→ {units}\n"
            f"    {alert.get('summary_zh', '')}\n"
            f"    {snippet}\n"
            f"    {alert.get('url', '')}  (id {alert.get('alert_id', '')})")
