"""Run one crawl of the configured sites in this process and return its stats.

Twisted's reactor cannot restart, so a long-lived caller (the scheduler, tests) runs this in a
child process (`finwatch crawl`), never twice in one process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

from crawler.distributed import redis_settings, redis_url
from crawler.spiders.sites import SitesSpider
from monitor.config import CONFIG_DIR, load_sites


def download_slots(sites_file: Path | str | None) -> dict[str, dict[str, Any]]:
    """Scrapy download slots (one per host) carrying each site's politeness settings."""
    parsed = load_sites(sites_file or CONFIG_DIR / "sites.yaml")
    return {host: {"concurrency": site.concurrency, "delay": site.download_delay}
            for site in parsed.sites for host in site.domains}


def run_crawl(sites_file: Path | str | None = None, site_ids: list[str] | None = None,
              index_prefix: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Crawl once. With `run_id` (and FINWATCH_REDIS_URL) this process is one worker of a
    distributed run whose frontier and dupefilter live in Redis."""
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    settings = get_project_settings()
    if index_prefix:
        settings.set("FINWATCH_INDEX_PREFIX", index_prefix, priority="cmdline")
    if run_id:
        url = redis_url()
        if url is None:
            raise ValueError("a distributed run (--run-id) needs FINWATCH_REDIS_URL")
        settings.setdict(redis_settings(run_id, url), priority="cmdline")
    settings.set("DOWNLOAD_SLOTS", download_slots(sites_file), priority="cmdline")
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(SitesSpider)
    process.crawl(crawler, sites_file=str(sites_file) if sites_file else None,
                  site_ids=",".join(site_ids) if site_ids else None)
    process.start()
    return dict(crawler.stats.get_stats() if crawler.stats else {})
