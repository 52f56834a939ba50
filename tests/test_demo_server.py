"""Tests of the bundled demo sites and their loopback server (monitor/demo_server.py).

The servers under test bind the real demo addresses (127.0.0.11..16) but on a free port taken
from a copy of config/sites.yaml, so the suite never collides with a demo someone is already
serving on port 18600.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from parsel import Selector

from monitor.demo_server import (
    DEFAULT_SITES_FILE,
    DEFAULT_SITES_ROOT,
    MARKER_PATH,
    DemoServerError,
    DemoSites,
    load_demo_sites,
    probe,
)

REPO = Path(__file__).resolve().parent.parent
SITES_CFG = yaml.safe_load(DEFAULT_SITES_FILE.read_text(encoding="utf-8"))
SITE_IDS = [s["id"] for s in SITES_CFG["sites"]]
SITE_NAMES = {s["id"]: s["name"] for s in SITES_CFG["sites"]}
AD_CSS = ", ".join(SITES_CFG["defaults"]["ad_selectors"])
POST_CSS = ", ".join(SITES_CFG["defaults"]["listing_selectors"])
EXPECTED = yaml.safe_load((REPO / "demo" / "expected.yaml").read_text(encoding="utf-8"))
LABELS = yaml.safe_load((REPO / "config" / "labels.yaml").read_text(encoding="utf-8"))
RESTRICTED = yaml.safe_load((REPO / "config" / "restricted_words.yaml").read_text("utf-8"))

GBK_ARTICLE = "/news/20161018-sanla-harvest.html"
FORUM_JS_SNIPPET = "宝富理财 月息2分 稳赚不赔"


def _free_port() -> int:
    """A port free on all six demo addresses (checked by binding each)."""
    for _ in range(20):
        with socket.socket() as s:
            s.bind(("127.0.0.11", 0))
            port = s.getsockname()[1]
        try:
            for i in range(11, 17):
                with socket.socket() as s:
                    s.bind((f"127.0.0.{i}", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port on 127.0.0.11..16")


def _sites_file(tmp: Path, port: int) -> Path:
    """A copy of config/sites.yaml whose start URLs use ``port`` instead of 18600."""
    text = DEFAULT_SITES_FILE.read_text(encoding="utf-8").replace(":18600/", f":{port}/")
    path = tmp / "sites.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def get(url: str, method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
    """Plain HTTP fetch, bypassing any proxy settings of the environment."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request(method, parts.path or "/")
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sites_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sites_file(tmp_path_factory.mktemp("demo"), _free_port())


@pytest.fixture(scope="module")
def demo(sites_file: Path) -> Iterator[DemoSites]:
    with DemoSites(sites_file) as running:
        assert running.running and not running.already_running
        yield running


def _manifest_encoding(site_id: str, path: str) -> str:
    data = yaml.safe_load((DEFAULT_SITES_ROOT / site_id / "_serve.yaml").read_text("utf-8")
                          ) if (DEFAULT_SITES_ROOT / site_id / "_serve.yaml").is_file() else {}
    data = data or {}
    rel = path.lstrip("/") or "index.html"
    rule = (data.get("files") or {}).get(rel) or {}
    return rule.get("encoding", data.get("encoding", "utf-8"))


# ------------------------------------------------------------------------- configuration


def test_default_config_has_a_demo_folder_for_every_site() -> None:
    sites = load_demo_sites()
    assert [s.site_id for s in sites] == SITE_IDS
    assert {s.host for s in sites} == {f"127.0.0.{i}" for i in range(11, 17)}
    assert {s.port for s in sites} == {18600}
    for site in sites:
        pages = sorted(site.root.rglob("*.html"))
        assert 3 <= len(pages) <= 8, (site.site_id, len(pages))
        assert (site.root / "index.html").is_file()
        robots = (site.root / "robots.txt").read_text(encoding="utf-8")
        assert "User-agent: *" in robots and "Disallow: /" not in robots


def test_non_loopback_demo_address_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "sites.yaml"
    cfg.write_text("sites:\n  - id: baodi_news\n    start_urls: ['http://192.0.2.7:18600/']\n",
                   encoding="utf-8")
    with pytest.raises(DemoServerError, match="loopback"):
        load_demo_sites(cfg)


def test_sites_without_a_demo_folder_are_skipped(tmp_path: Path) -> None:
    cfg = tmp_path / "sites.yaml"
    cfg.write_text("sites:\n  - id: real_portal\n    start_urls: ['http://192.0.2.7/']\n"
                   "  - id: baodi_news\n    start_urls: ['http://127.0.0.11:18600/']\n",
                   encoding="utf-8")
    assert [s.site_id for s in load_demo_sites(cfg)] == ["baodi_news"]


# ------------------------------------------------------------------------- serving


@pytest.mark.parametrize("site_id", SITE_IDS)
def test_each_site_answers_on_its_own_address(demo: DemoSites, site_id: str) -> None:
    url = demo.urls[site_id]
    status, headers, body = get(url)
    assert status == 200
    assert urlsplit(url).hostname == next(s.host for s in demo.sites if s.site_id == site_id)
    charset = "gbk" if site_id == "baodi_classifieds" else "utf-8"
    assert headers["Content-Type"] == f"text/html; charset={charset}"
    title = re.search(r"<title>(.*?)</title>", body.decode(charset)).group(1)
    assert SITE_NAMES[site_id] in title
    status, _, robots = get(urljoin(url, "/robots.txt"))
    assert status == 200 and robots.startswith(b"User-agent: *")


@pytest.mark.parametrize("site_id", SITE_IDS)
def test_marker_endpoint_names_the_site(demo: DemoSites, site_id: str) -> None:
    status, headers, body = get(urljoin(demo.urls[site_id], MARKER_PATH))
    assert status == 200 and headers["Content-Type"] == "application/json"
    marker = json.loads(body)
    assert marker["name"] == "finwatch-demo" and marker["site_id"] == site_id


@pytest.mark.parametrize("path", ["/nope.html", "/news/", "/_serve.yaml", "/../index.html",
                                  "/%2e%2e/baodi_forum/index.html", "/news/../../README.md"])
def test_unknown_paths_are_404(demo: DemoSites, path: str) -> None:
    status, _, _ = get(demo.urls["baodi_news"].rstrip("/") + path)
    assert status == 404


def test_head_sends_headers_without_body(demo: DemoSites) -> None:
    status, headers, body = get(demo.urls["baodi_news"], method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000


def test_gbk_article_is_gbk_with_a_charset_less_header(demo: DemoSites) -> None:
    status, headers, body = get(urljoin(demo.urls["baodi_news"], GBK_ARTICLE))
    assert status == 200
    assert headers["Content-Type"] == "text/html"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    text = body.decode("gbk")
    assert '<meta charset="gbk">' in text
    assert "宝坻“三辣”喜获丰收" in text
    # the other articles of the site stay UTF-8
    _, headers, body = get(urljoin(demo.urls["baodi_news"], "/news/20161015-heating.html"))
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "供暖" in body.decode("utf-8")


def test_classifieds_list_header_contradicts_its_gbk_body(demo: DemoSites) -> None:
    status, headers, body = get(urljoin(demo.urls["baodi_classifieds"], "/list.html"))
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"  # the lie
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    text = body.decode("gb2312")  # what the <meta> says, and it is right
    assert '<meta charset="gb2312">' in text
    assert "本人专业办理信用卡代还、提额、套现" in text


@pytest.mark.parametrize("path", ["/", "/info/1001.html", "/about.html"])
def test_whole_classifieds_site_is_gbk_with_honest_headers(demo: DemoSites, path: str) -> None:
    status, headers, body = get(urljoin(demo.urls["baodi_classifieds"], path))
    assert status == 200 and headers["Content-Type"] == "text/html; charset=gbk"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert "宝坻便民信息网" in body.decode("gb2312")


def test_classifieds_uses_the_gg_ad_class(demo: DemoSites) -> None:
    _, _, body = get(demo.urls["baodi_classifieds"])
    sel = Selector(text=body.decode("gbk"))
    assert len(sel.css(".gg")) == 2 and not sel.css(".ad-slot")


def test_forum_ad_text_is_not_in_the_raw_html(demo: DemoSites) -> None:
    _, _, body = get(demo.urls["baodi_forum"])
    html = body.decode("utf-8")
    assert '<script src="/js/ad.js"></script>' in html and '<div id="ad-top"></div>' in html
    for word in (FORUM_JS_SNIPPET, "月息2分", "稳赚不赔"):
        assert word not in html
    _, headers, js = get(urljoin(demo.urls["baodi_forum"], "/js/ad.js"))
    assert headers["Content-Type"].startswith("text/javascript")
    js_text = js.decode("ascii")  # \u escapes only: no plain Chinese in the script either
    assert "月息" not in js_text
    literal = re.search(r'var html = ("(?:[^"\\]|\\.)*");', js_text).group(1)
    assert FORUM_JS_SNIPPET in json.loads(literal)
    assert "DOMContentLoaded" in js_text and '"ad-slot"' in js_text


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_forum_script_inserts_the_ad_on_domcontentloaded(demo: DemoSites) -> None:
    """Run the served script under node with a DOM stub: the ad appears only after the event."""
    _, _, js = get(urljoin(demo.urls["baodi_forum"], "/js/ad.js"))
    harness = """
const listeners = {}; const slot = {children: [], appendChild(c) { this.children.push(c); }};
global.document = {
  addEventListener(t, f) { (listeners[t] = listeners[t] || []).push(f); },
  getElementById(id) { return id === 'ad-top' ? slot : null; },
  createElement(tag) { return {tag, className: '', innerHTML: ''}; },
};
eval(require('fs').readFileSync(0, 'utf8'));
const before = slot.children.length;
(listeners.DOMContentLoaded || []).forEach(f => f());
console.log(JSON.stringify({before, after: slot.children}));
"""
    out = subprocess.run(["node", "-e", harness], input=js, capture_output=True, timeout=30,
                         check=True).stdout
    result = json.loads(out)
    assert result["before"] == 0
    [ad] = result["after"]
    assert ad["tag"] == "div" and ad["className"] == "ad-slot"
    assert FORUM_JS_SNIPPET in ad["innerHTML"]


@pytest.mark.parametrize("site_id", SITE_IDS)
def test_every_page_is_linked_within_depth_3_and_no_link_is_broken(
    demo: DemoSites, site_id: str
) -> None:
    base = demo.urls[site_id]
    root = DEFAULT_SITES_ROOT / site_id
    files = {"/" + p.relative_to(root).as_posix() for p in root.rglob("*.html")}
    seen: dict[str, int] = {"/": 0}
    queue = ["/"]
    while queue:
        path = queue.pop(0)
        status, headers, body = get(urljoin(base, path))
        assert status == 200, (site_id, path)
        enc = _manifest_encoding(site_id, path)
        for href in Selector(text=body.decode(enc)).css("a::attr(href), script::attr(src)"
                                                         ).getall():
            target = urlsplit(urljoin(urljoin(base, path), href))
            if target.netloc != urlsplit(base).netloc or target.path in seen:
                continue
            seen[target.path] = seen[path] + 1
            if target.path.endswith(".js"):
                assert get(urljoin(base, target.path))[0] == 200
            else:
                queue.append(target.path)
    reached = {("/index.html" if p == "/" else p) for p, d in seen.items() if d <= 3}
    assert files <= reached, files - reached


@pytest.mark.parametrize("site_id", SITE_IDS)
def test_pages_carry_title_footer_copyright_icp_and_phone(demo: DemoSites, site_id: str) -> None:
    root = DEFAULT_SITES_ROOT / site_id
    for page in root.rglob("*.html"):
        path = "/" + page.relative_to(root).as_posix()
        _, _, body = get(urljoin(demo.urls[site_id], path))
        text = body.decode(_manifest_encoding(site_id, path))
        assert re.search(r"<title>[^<]+</title>", text), path
        assert "版权所有" in text and re.search(r"津ICP备\d{8}号", text), path
        assert re.search(r"022-2958\d{4}", text), path


# ------------------------------------------------------------------------- lifecycle


def test_second_instance_reuses_the_running_one(demo: DemoSites, sites_file: Path) -> None:
    second = DemoSites(sites_file).start()
    try:
        assert second.already_running and not second.running
        assert second.urls == demo.urls
    finally:
        second.stop()
    # stopping the reusing instance must not stop the servers it did not start
    assert get(demo.urls["xinrongbao"])[0] == 200


def test_stop_releases_every_address(tmp_path: Path) -> None:
    demo = DemoSites(_sites_file(tmp_path, _free_port())).start()
    hosts = [(s.host, s.port) for s in demo.sites]
    assert all(probe(h, p) for h, p in hosts)
    demo.stop()
    assert not demo.running
    assert all(probe(h, p) is None for h, p in hosts)


class _Foreign(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"not finwatch")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_foreign_process_on_a_demo_address_is_a_clear_error(tmp_path: Path) -> None:
    port = _free_port()
    foreign = HTTPServer(("127.0.0.14", port), _Foreign)
    thread = threading.Thread(target=foreign.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(DemoServerError, match=rf"127\.0\.0\.14:{port}"):
            DemoSites(_sites_file(tmp_path, port)).start()
        # nothing was left bound on the free addresses
        assert probe("127.0.0.11", port) is None
    finally:
        foreign.shutdown()
        foreign.server_close()


def test_main_serves_in_the_foreground_until_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.demo_server", "--sites", str(_sites_file(tmp_path, port))],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        while "serving" not in (line := proc.stdout.readline()):
            assert line, proc.stderr.read()
            lines.append(line)
        assert any(f"http://127.0.0.13:{port}/" in ln for ln in lines)
        assert get(f"http://127.0.0.13:{port}/")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""  # quiet: no per-request log lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------- ground truth


def test_expected_items_use_the_label_vocabulary() -> None:
    for item in EXPECTED["items"]:
        assert item["site"] in SITE_IDS
        assert item["kind"] in {"ad", "listing", "page"}
        assert item["verdict"] in LABELS["verdicts"]
        assert item["sector"] in LABELS["sectors"]
        assert set(item["violations"]) <= set(LABELS["violations"])
        assert (item["verdict"] == "violation") == bool(item["violations"]), item
        assert (item["sector"] == "none") == (item["verdict"] == "other"), item
    verdicts = {i["verdict"] for i in EXPECTED["items"]}
    assert verdicts == {"violation", "financial", "other"}
    assert {code for i in EXPECTED["items"] for code in i["violations"]} == set(
        LABELS["violations"])


ITEM_IDS = [f"{i['site']}{i['path']}#{n}" for n, i in enumerate(EXPECTED["items"])]


@pytest.mark.parametrize("item", EXPECTED["items"], ids=ITEM_IDS)
def test_expected_snippet_is_where_it_says(demo: DemoSites, item: dict) -> None:
    status, _, body = get(urljoin(demo.urls[item["site"]], item["path"]))
    assert status == 200
    encoding = item.get("served_as", "utf-8")
    assert _manifest_encoding(item["site"], item["path"]) == encoding
    html = body.decode(encoding)
    snippet = item["snippet"]
    if item.get("requires_js"):
        assert snippet not in html
        return
    assert html.count(snippet) == 1, "snippet must be unique in its page"
    sel = Selector(text=html)
    in_ads = [t for t in (" ".join(e.css("*::text").getall()) for e in sel.css(AD_CSS))
              if snippet in t]
    in_posts = [t for t in (" ".join(e.css("*::text").getall()) for e in sel.css(POST_CSS))
                if snippet in t]
    if item["kind"] == "ad":
        assert len(in_ads) == 1 and not in_posts
    elif item["kind"] == "listing":
        assert len(in_posts) == 1 and not in_ads
    else:
        assert not in_ads and not in_posts
        assert snippet in " ".join(sel.css("body *::text").getall())


def test_restricted_names_appear_on_their_sites(demo: DemoSites) -> None:
    lists = RESTRICTED["lists"]
    for entry in EXPECTED["names"]:
        _, _, body = get(demo.urls[entry["site"]])
        sel = Selector(text=body.decode("utf-8"))
        where = sel.css("title::text").get() if entry["where"] == "title" else " ".join(
            sel.css(".footer *::text").getall())
        assert entry["name"] in where, entry
        for word in entry["words"]:
            assert word in entry["name"] and word in lists[entry["list"]]["words"]
    restricted = set(lists["website_names"]["words"]) | set(lists["company_names"]["words"])
    for entry in EXPECTED["clean_names"]:
        _, _, body = get(demo.urls[entry["site"]])
        assert entry["name"] in body.decode(_manifest_encoding(entry["site"], "/"))
        assert not [w for w in restricted if w in entry["name"]], entry
