"""Cutting pages into ads, posts and the page's own text."""

from crawler.extract import extract_page

HTML = """<html><head><title>宝坻在线 - 首页</title><style>.x{}</style></head><body>
<h1>本地新闻</h1><p>区里召开会议<b>部署</b>工作。</p>
<div class="ad-slot">年化<b>18%</b>保本保息</div>尾部文字
<ul><li class="listing">出售二手沙发</li>
<li class="listing">黑户可贷 <span class="ad-slot">当天放款</span></li></ul>
<script>var ad = "脚本里的字不算";</script>
</body></html>"""


def test_segments_are_ads_then_posts_then_the_rest() -> None:
    page = extract_page(HTML, [".ad-slot"], [".listing"])
    assert page.title == "宝坻在线 - 首页"
    kinds = [(s.kind, s.text) for s in page.segments]
    assert kinds[0] == ("ad", "年化 18% 保本保息")
    assert kinds[1] == ("ad", "当天放款")  # nested ad taken out of its post
    assert kinds[2] == ("listing", "出售二手沙发")
    assert kinds[3] == ("listing", "黑户可贷")
    assert kinds[4][0] == "page"
    assert "区里召开会议" in kinds[4][1] and "尾部文字" in kinds[4][1]
    assert "保本保息" not in kinds[4][1]


def test_script_and_style_text_is_invisible() -> None:
    page = extract_page(HTML, [], [])
    assert "脚本里的字不算" not in page.text
    assert "保本保息" in page.text


def test_empty_or_broken_html_gives_empty_text() -> None:
    assert extract_page("", [".ad-slot"], []).segments == []
    page = extract_page("<div class='ad-slot'>无抵押<p>贷款", [".ad-slot"], [])
    assert page.segments[0].text.startswith("无抵押")
