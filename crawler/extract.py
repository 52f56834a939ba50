"""Visible text and ad/post segments out of an HTML page.

Why segments: a portal page carries several unrelated ads; each must be judged, alerted and
routed on its own, and the page's own article must not be blamed for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree
from parsel import Selector

from crawler.items import Segment

_INVISIBLE = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"
_TEXT_XPATH = f".//text()[not({_INVISIBLE})]"
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ExtractedPage:
    title: str
    text: str
    segments: list[Segment]


def visible_text(node: etree._Element) -> str:
    """The text a reader sees in a node, whitespace collapsed."""
    return _SPACE.sub(" ", " ".join(node.xpath(_TEXT_XPATH))).strip()


def _detach(node: etree._Element) -> None:
    """Remove a node but keep the text that follows it (lxml stores it on the node's tail)."""
    parent = node.getparent()
    if parent is None:
        return
    if node.tail:
        previous = node.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        else:
            parent.text = (parent.text or "") + node.tail
    parent.remove(node)


def extract_page(html: str, ad_selectors: Sequence[str],
                 listing_selectors: Sequence[str]) -> ExtractedPage:
    """Title, full visible text, and segments: each ad, each post, then the remaining text."""
    selector = Selector(text=html or "<html></html>")
    title = _SPACE.sub(" ", " ".join(selector.xpath("//title//text()").getall())).strip()
    body = selector.xpath("//body")
    root = body[0].root if body else selector.root
    full_text = visible_text(root) if isinstance(root, etree._Element) else ""
    segments: list[Segment] = []
    for kind, css_list in (("ad", ad_selectors), ("listing", listing_selectors)):
        for css in css_list:
            for match in selector.css(css):
                node = match.root
                if not isinstance(node, etree._Element) or node.getparent() is None:
                    continue  # already taken by an earlier selector (nested matches)
                text = visible_text(node)
                if text:
                    segments.append(Segment(kind=kind, text=text))
                _detach(node)
    rest = visible_text(root) if isinstance(root, etree._Element) else ""
    if rest:
        segments.append(Segment(kind="page", text=rest))
    return ExtractedPage(title=title, text=full_text, segments=segments)
