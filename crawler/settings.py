"""Scrapy settings for finwatch's crawler: components are wired here, as Scrapy intends."""

import os

BOT_NAME = "finwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "finwatch/0.1 (+district internet-finance risk monitoring)"
ROBOTSTXT_OBEY = True

# Politeness: local government crawler, not a load test.
CONCURRENT_REQUESTS = int(os.environ.get("FINWATCH_CONCURRENT_REQUESTS", "16"))
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024
RETRY_TIMES = 2
AUTOTHROTTLE_ENABLED = False

DOWNLOADER_MIDDLEWARES = {
    # After HttpCompression (590) so the body is decompressed before its charset is checked.
    "crawler.middlewares.CharsetRepairMiddleware": 580,
}

EXTENSIONS = {
    "crawler.extensions.CrawlRunRecorder": 500,
    "crawler.distributed.RunLifecycle": 510,  # only active in a distributed run
}

ITEM_PIPELINES = {
    "crawler.pipelines.ClassifyPipeline": 300,
    "crawler.evidence.EvidencePipeline": 500,
    "crawler.pipelines.ElasticsearchPipeline": 800,
}
FINWATCH_BULK_SIZE = 200
FINWATCH_INDEX_PREFIX = os.environ.get("FINWATCH_INDEX_PREFIX", "finwatch")

# JavaScript pages (sites with `render: true`) go through Debian's Chromium via scrapy-playwright;
# other requests fall through to Scrapy's own HTTP handler.
DOWNLOAD_HANDLERS = {
    "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
}
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    "executable_path": os.environ.get("FINWATCH_CHROMIUM", "/usr/bin/chromium"),
    "headless": True,
    "args": [
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run",
    ],
}
PLAYWRIGHT_MAX_CONTEXTS = 2
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Off in production: no remote control surface on a monitoring host.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = os.environ.get("FINWATCH_LOG_LEVEL", "INFO")
FEED_EXPORT_ENCODING = "utf-8"
