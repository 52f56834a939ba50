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

from crawler.spiders.sites import SitesSpider


def run_crawl(sites_file: Path | str | None = None, site_ids: list[str] | None = None,
              index_prefix: str | None = None) -> dict[str, Any]:
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    settings = get_project_settings()
    if index_prefix:
        settings.set("FINWATCH_INDEX_PREFIX", index_prefix, priority="cmdline")
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(SitesSpider)
    process.crawl(crawler, sites_file=str(sites_file) if sites_file else None,
                  site_ids=",".join(site_ids) if site_ids else None)
    process.start()
    return dict(crawler.stats.get_stats() if crawler.stats else {})
