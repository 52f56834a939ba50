"""Downloader middleware that repairs the charset of Chinese pages.

Why: a header charset overrides `<meta>` in Scrapy, and local Chinese sites often send
`charset=utf-8` for a GBK body, which decodes to U+FFFD garbage. We re-decode with the page's
own declaration, then with GB18030 (a superset of GB2312/GBK), and count what we did.
"""

from __future__ import annotations

import codecs
import logging

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.http import Request, Response, TextResponse
from scrapy.statscollectors import StatsCollector
from w3lib.encoding import html_body_declared_encoding, resolve_encoding

log = logging.getLogger(__name__)

_CANDIDATES = ("utf-8", "gb18030")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    resolved = resolve_encoding(name)
    if resolved is None:
        return None
    return codecs.lookup(resolved).name


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def choose_encoding(body: bytes, current: str) -> str | None:
    """A better encoding for `body` than `current`, or None when `current` is right.

    `current` is right when it decodes the body strictly. Otherwise try the encoding the page
    declares in <meta>, then UTF-8 and GB18030; the first strict decode wins.
    """
    if _decodes(body, current):
        return None
    declared = _codec(html_body_declared_encoding(body))
    for candidate in (declared, *_CANDIDATES):
        if candidate and candidate != current and _decodes(body, candidate):
            return candidate
    return None


class CharsetRepairMiddleware:
    """Re-decode text responses whose declared charset does not fit their bytes."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CharsetRepairMiddleware:
        return cls(crawler.stats)

    def process_response(self, request: Request, response: Response, spider: Spider) -> Response:
        if not isinstance(response, TextResponse):
            return response
        current = _codec(response.encoding) or "utf-8"
        better = choose_encoding(response.body, current)
        if better is None:
            if not _decodes(response.body, current):
                self.stats.inc_value("finwatch/encoding_undecodable")
                log.warning("page %s does not decode as %s or any Chinese charset; "
                            "kept with replacement characters", response.url, current)
                request.meta["finwatch_encoding_undecodable"] = True
            return response
        self.stats.inc_value("finwatch/encoding_repaired")
        log.info("page %s declared %s but is %s; re-decoded", response.url, current, better)
        request.meta["finwatch_encoding_repaired"] = f"{current}->{better}"
        return response.replace(encoding=better)
