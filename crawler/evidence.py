"""Item pipeline that captures evidence for every page that produced an alert.

The raw HTML is written as fetched; the screenshot is taken by Debian's Chromium through
Playwright, with the page's main document served from those same bytes (so picture and HTML
are one fetch) while images and styles load from the site.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from crawler.items import PageItem
from monitor.evidence import EvidenceSettings, write_evidence

log = logging.getLogger(__name__)

CHROMIUM = os.environ.get("FINWATCH_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


class EvidencePipeline:
    """Writes HTML + PNG + their SHA-256 and attaches them to the page's alerts."""

    def __init__(self, stats: StatsCollector, settings: EvidenceSettings) -> None:
        self.stats = stats
        self.settings = settings
        self._playwright: Any = None
        self._browser: Any = None
        self._browser_error: str | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidencePipeline:
        return cls(crawler.stats, EvidenceSettings.load())

    async def process_item(self, item: PageItem, spider: Spider) -> PageItem:
        if not item.alerts:
            return item
        files: dict[str, Any] = {"fetched_at": item.fetched_at}
        files["html_path"], files["html_sha256"] = write_evidence(
            self.settings.root, item.site_id, item.raw_body, ".html")
        if self.settings.screenshot:
            try:
                png = await self._screenshot(item)
            except Exception as exc:  # noqa: BLE001 - any browser failure is reported, not fatal
                files["screenshot_error"] = f"{type(exc).__name__}: {exc}"[:500]
                self.stats.inc_value("finwatch/evidence/screenshot_errors")
                log.error("no screenshot of %s: %s", item.url, files["screenshot_error"])
            else:
                files["png_path"], files["png_sha256"] = write_evidence(
                    self.settings.root, item.site_id, png, ".png")
        else:
            files["screenshot_error"] = "screenshots disabled in config/finwatch.yaml"
        files["captured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        for alert in item.alerts:
            alert["evidence_files"] = files
        self.stats.inc_value("finwatch/evidence/pages")
        return item

    async def _browser_instance(self) -> Any:
        if self._browser is None and self._browser_error is None:
            try:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            except Exception as exc:  # noqa: BLE001
                self._browser_error = (f"Chromium at {CHROMIUM} could not start "
                                       f"(Debian: apt-get install chromium): {exc}")[:500]
        if self._browser is None:
            raise RuntimeError(self._browser_error)
        return self._browser

    async def _screenshot(self, item: PageItem) -> bytes:
        browser = await self._browser_instance()
        # A page rendered by Chromium already holds its script output: do not run scripts twice.
        context = await browser.new_context(java_script_enabled=not item.rendered,
                                            viewport={"width": 1280, "height": 900})
        try:
            page = await context.new_page()
            content_type = item.content_type or "text/html"

            async def serve_fetched(route: Any) -> None:
                await route.fulfill(status=200, body=item.raw_body,
                                    headers={"Content-Type": content_type})

            await page.route(item.url, serve_fetched)
            timeout_ms = self.settings.screenshot_timeout_s * 1000
            await page.goto(item.url, wait_until="load", timeout=timeout_ms)
            return await page.screenshot(full_page=True, timeout=timeout_ms)
        finally:
            await context.close()

    async def close_spider(self, spider: Spider) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
