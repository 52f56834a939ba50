"""Charset repair: GBK bodies under a wrong UTF-8 header are re-decoded, correct pages untouched."""

from scrapy.http import HtmlResponse, Request
from scrapy.spiders import Spider
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.middlewares import CharsetRepairMiddleware, choose_encoding

TEXT = "首付贷轻松办，年化收益18%"


def page(charset_meta: str, text: str = TEXT) -> str:
    return f'<html><head><meta charset="{charset_meta}"></head><body>{text}</body></html>'


def test_gbk_body_under_utf8_header_is_repaired() -> None:
    body = page("gb2312").encode("gbk")
    assert choose_encoding(body, "utf-8") == "gb18030"


def test_correct_declaration_is_left_alone() -> None:
    assert choose_encoding(page("utf-8").encode("utf-8"), "utf-8") is None
    assert choose_encoding(page("gbk").encode("gbk"), "gb18030") is None


def test_middleware_re_decodes_and_counts() -> None:
    crawler = get_crawler(Spider)
    stats = MemoryStatsCollector(crawler)
    middleware = CharsetRepairMiddleware(stats)
    spider = Spider(name="t")
    request = Request("http://127.0.0.1/x")
    response = HtmlResponse(
        url=request.url, request=request, body=page("gb2312").encode("gbk"),
        headers={"Content-Type": "text/html; charset=utf-8"})
    assert "\ufffd" in response.text  # what Scrapy alone produces
    fixed = middleware.process_response(request, response, spider)
    assert TEXT in fixed.text
    assert stats.get_value("finwatch/encoding_repaired") == 1
    assert request.meta["finwatch_encoding_repaired"] == "utf-8->gb18030"


def test_undecodable_page_is_kept_and_counted() -> None:
    crawler = get_crawler(Spider)
    stats = MemoryStatsCollector(crawler)
    middleware = CharsetRepairMiddleware(stats)
    request = Request("http://127.0.0.1/bin")
    body = bytes(range(128, 256)) * 4
    response = HtmlResponse(url=request.url, request=request, body=body,
                            headers={"Content-Type": "text/html; charset=utf-8"})
    kept = middleware.process_response(request, response, Spider(name="t"))
    assert kept is response
    assert stats.get_value("finwatch/encoding_undecodable") == 1
