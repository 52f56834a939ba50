"""What the spider hands to the pipelines: one crawled page, cut into classifiable segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Segment:
    """A piece of a page judged on its own: one ad slot, one user post, or the page's own text."""

    kind: str  # "ad" | "listing" | "page"
    text: str


@dataclass
class PageItem:
    """One fetched HTML page with its decoded text and provenance.

    The pipelines add `doc` (the page document) and `alerts` (flagged segments) as they go.
    An unchanged page carries no text: nothing in it needs judging again.
    """

    url: str
    site_id: str
    site_name: str
    site_kind: str
    domain: str
    http_status: int
    content_type: str
    encoding: str
    encoding_repaired: bool
    rendered: bool
    fetched_at: str
    content_sha256: str
    title: str
    text: str
    segments: list[Segment] = field(default_factory=list)
    # Incremental crawling: "new" | "changed" | "unchanged" (same bytes) | "not_modified" (304).
    change: str = "new"
    etag: str | None = None
    last_modified: str | None = None
    links: list[str] = field(default_factory=list)
    raw_body: bytes = field(default=b"", repr=False)  # as fetched: the evidence file
    doc: dict[str, Any] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
