"""The one spider: crawls every configured site within its own page and depth limits."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from crawler.extract import extract_page
from crawler.items import PageItem
from monitor.config import CONFIG_DIR, SiteConfig, load_sites

log = logging.getLogger(__name__)

CHROMIUM = os.environ.get("FINWATCH_CHROMIUM", "/usr/bin/chromium")


class SitesSpider(scrapy.Spider):
    """Crawl the sites of a sites file (all, or those named), following same-site links."""

    name = "sites"

    def __init__(self, sites_file: str | None = None, site_ids: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parsed = load_sites(sites_file or CONFIG_DIR / "sites.yaml")
        for error in parsed.errors:
            log.error(error)
        wanted = set(site_ids.split(",")) if site_ids else None
        self.sites: dict[str, SiteConfig] = {
            s.id: s for s in parsed.sites if wanted is None or s.id in wanted}
        if wanted and (missing := wanted - set(self.sites)):
            log.error("unknown or disabled site id(s): %s", ", ".join(sorted(missing)))
        self.scheduled: Counter[str] = Counter()
        self.seen_urls: set[str] = set()
        self.can_render = os.path.exists(CHROMIUM) or shutil.which("chromium") is not None
        for site in self.sites.values():
            if site.render and not self.can_render:
                log.error("site %s needs JavaScript (render: true) but Chromium is not installed "
                          "at %s (Debian: apt-get install chromium); crawling it without "
                          "rendering, so script-inserted ads are missed", site.id, CHROMIUM)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # Scrapy >= 2.16 only calls start(); a start_requests()-only spider crawls nothing.
        for site in self.sites.values():
            for url in site.start_urls:
                request = self._request(site, url, depth=0)
                if request is not None:
                    yield request

    def _request(self, site: SiteConfig, url: str, depth: int) -> scrapy.Request | None:
        if url in self.seen_urls:
            return None
        if self.scheduled[site.id] >= site.max_pages:
            self.crawler.stats.inc_value(f"finwatch/max_pages_reached/{site.id}")
            return None
        self.scheduled[site.id] += 1
        self.seen_urls.add(url)
        meta: dict[str, Any] = {"site_id": site.id, "site_depth": depth}
        if site.render and self.can_render:
            from scrapy_playwright.page import PageMethod

            meta["playwright"] = True
            meta["playwright_page_methods"] = [PageMethod("wait_for_load_state", "networkidle")]
        return scrapy.Request(url, callback=self.parse, errback=self.on_error, meta=meta)

    def parse(self, response: Response) -> Iterator[PageItem | scrapy.Request]:
        site = self.sites[response.meta["site_id"]]
        stats = self.crawler.stats
        stats.inc_value(f"finwatch/pages/{site.id}")
        if not isinstance(response, TextResponse):
            stats.inc_value("finwatch/non_text_responses")
            log.info("skipped non-text response %s (%s)", response.url,
                     response.headers.get("Content-Type", b"").decode(errors="replace"))
            return
        page = extract_page(response.text, site.ad_selectors, site.listing_selectors)
        yield PageItem(
            url=response.url,
            site_id=site.id,
            site_name=site.name,
            site_kind=site.kind,
            domain=urlsplit(response.url).hostname or "",
            http_status=response.status,
            content_type=response.headers.get("Content-Type", b"").decode("latin-1"),
            encoding=response.encoding,
            encoding_repaired=bool(response.meta.get("finwatch_encoding_repaired")),
            rendered=bool(response.meta.get("playwright")),
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            content_sha256=hashlib.sha256(response.body).hexdigest(),
            title=page.title,
            text=page.text,
            segments=page.segments,
        )
        depth = response.meta["site_depth"]
        if depth >= site.max_depth:
            return
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href.strip()).split("#", 1)[0]
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.hostname not in site.domains:
                continue
            request = self._request(site, url, depth + 1)
            if request is not None:
                yield request

    def on_error(self, failure: Failure) -> None:
        """Count and log every fetch that failed: an unreachable page is not silently skipped."""
        request = failure.request  # type: ignore[attr-defined]
        site_id = request.meta.get("site_id", "?")
        self.crawler.stats.inc_value(f"finwatch/fetch_errors/{site_id}")
        log.error("fetch failed for %s (site %s): %s", request.url, site_id,
                  failure.getErrorMessage())
