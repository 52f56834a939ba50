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
from crawler.known_pages import KnownPage, load_known_pages
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
        self.known: dict[str, KnownPage] = {}
        self.can_render = os.path.exists(CHROMIUM) or shutil.which("chromium") is not None
        for site in self.sites.values():
            if site.render and not self.can_render:
                log.error("site %s needs JavaScript (render: true) but Chromium is not installed "
                          "at %s (Debian: apt-get install chromium); crawling it without "
                          "rendering, so script-inserted ads are missed", site.id, CHROMIUM)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # Scrapy >= 2.16 only calls start(); a start_requests()-only spider crawls nothing.
        self.known = load_known_pages(self.settings.get("FINWATCH_INDEX_PREFIX"), self.sites)
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
        meta: dict[str, Any] = {"site_id": site.id, "site_depth": depth,
                                "handle_httpstatus_list": [304]}
        headers: dict[str, str] = {}
        if site.render and self.can_render:
            from scrapy_playwright.page import PageMethod

            meta["playwright"] = True
            meta["playwright_page_methods"] = [PageMethod("wait_for_load_state", "networkidle")]
        elif known := self.known.get(url):
            # Conditional request: an unchanged page answers 304 and costs almost nothing.
            if known.etag:
                headers["If-None-Match"] = known.etag
            if known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
        return scrapy.Request(url, callback=self.parse, errback=self.on_error, meta=meta,
                              headers=headers)

    def _follow(self, site: SiteConfig, base: Response, hrefs: list[str],
                depth: int) -> Iterator[scrapy.Request]:
        if depth >= site.max_depth:
            return
        for href in hrefs:
            url = base.urljoin(href.strip()).split("#", 1)[0]
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.hostname not in site.domains:
                continue
            request = self._request(site, url, depth + 1)
            if request is not None:
                yield request

    def parse(self, response: Response) -> Iterator[PageItem | scrapy.Request]:
        site = self.sites[response.meta["site_id"]]
        stats = self.crawler.stats
        stats.inc_value(f"finwatch/pages/{site.id}")
        depth = response.meta["site_depth"]
        known = self.known.get(response.url)
        if response.status == 304 and known is not None:
            stats.inc_value(f"finwatch/change/{site.id}/not_modified")
            yield self._unchanged_item(site, response, "not_modified", known)
            yield from self._follow(site, response, list(known.links), depth)
            return
        if not isinstance(response, TextResponse):
            stats.inc_value("finwatch/non_text_responses")
            log.info("skipped non-text response %s (%s)", response.url,
                     response.headers.get("Content-Type", b"").decode(errors="replace"))
            return
        sha256 = hashlib.sha256(response.body).hexdigest()
        hrefs = response.css("a::attr(href)").getall()
        if known is not None and known.content_sha256 == sha256:
            stats.inc_value(f"finwatch/change/{site.id}/unchanged")
            yield self._unchanged_item(site, response, "unchanged", known)
            yield from self._follow(site, response, hrefs, depth)
            return
        change = "new" if known is None else "changed"
        stats.inc_value(f"finwatch/change/{site.id}/{change}")
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
            content_sha256=sha256,
            title=page.title,
            text=page.text,
            segments=page.segments,
            change=change,
            etag=_header(response, b"ETag"),
            last_modified=_header(response, b"Last-Modified"),
            links=sorted({response.urljoin(h.strip()).split("#", 1)[0] for h in hrefs}),
            raw_body=response.body,
        )
        yield from self._follow(site, response, hrefs, depth)

    def _unchanged_item(self, site: SiteConfig, response: Response, change: str,
                        known: KnownPage) -> PageItem:
        """A page already indexed as it is: only its check time is recorded."""
        return PageItem(
            url=response.url, site_id=site.id, site_name=site.name, site_kind=site.kind,
            domain=urlsplit(response.url).hostname or "", http_status=response.status,
            content_type="", encoding="", encoding_repaired=False,
            rendered=bool(response.meta.get("playwright")),
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            content_sha256=known.content_sha256, title="", text="", change=change,
        )

    def on_error(self, failure: Failure) -> None:
        """Count and log every fetch that failed: an unreachable page is not silently skipped."""
        request = failure.request  # type: ignore[attr-defined]
        site_id = request.meta.get("site_id", "?")
        self.crawler.stats.inc_value(f"finwatch/fetch_errors/{site_id}")
        log.error("fetch failed for %s (site %s): %s", request.url, site_id,
                  failure.getErrorMessage())


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
