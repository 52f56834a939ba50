"""The main job on the bundled demo sites: what `make demo` runs after installing.

Starts (or reuses) the local Elasticsearch node and the demo sites, crawls them once, and prints
what was crawled and flagged, so a new operator sees the whole path work in one command.
"""

from __future__ import annotations

import os
from pathlib import Path

from crawler.run import run_crawl
from monitor import es_local
from monitor.demo_server import DemoSites
from monitor.report import crawl_summary, format_alert
from monitor.routing import Router
from monitor.store import Store, StoreUnavailable
from nlp.segment import segment_words


def run_demo(sites_file: Path, index_prefix: str | None = None) -> int:
    if not os.environ.get("ELASTICSEARCH_URL"):
        node = es_local.start()
        print(f"Elasticsearch {node.version} at {node.url}")
    with DemoSites(sites_file) as demo:
        for site_id, url in demo.urls.items():
            print(f"demo site {site_id:<18} {url}")
        stats = run_crawl(sites_file, None, index_prefix)
    try:
        store = Store.from_env(index_prefix)
        print()
        print(crawl_summary(store))
        query = "保本"
        hits = store.search_alerts(query, segment_words(query), size=3)
    except StoreUnavailable as exc:
        print(f"error: {exc}")
        return 1
    print(f"\n$ finwatch search {query}")
    names = Router.from_file().unit_names
    for hit in hits:
        print(format_alert(hit, names))
    spooled = stats.get("finwatch/spooled", 0)
    if spooled:
        print(f"\nwarning: {spooled} record(s) could not be indexed and wait in the spool")
    print("\nTry: finwatch search 首付贷 | finwatch search --unit gafj | finwatch search --help")
    return 1 if spooled else 0
