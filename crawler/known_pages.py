"""What the last crawls learnt about each page: validators, content hash and links.

Why: an unchanged page should cost a 304 or a hash comparison, not a classification and a
re-index, and a 304 still needs the page's links so the crawl can go deeper.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from elasticsearch import ApiError, NotFoundError, TransportError, helpers

from monitor.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

_FIELDS = ["url", "etag", "last_modified", "content_sha256", "links"]


@dataclass(frozen=True)
class KnownPage:
    etag: str | None
    last_modified: str | None
    content_sha256: str
    links: tuple[str, ...]


def load_known_pages(prefix: str | None, site_ids: Iterable[str]) -> dict[str, KnownPage]:
    """Known pages of these sites by URL; empty (full crawl) when Elasticsearch is unreachable."""
    try:
        store = Store.from_env(prefix)
        hits = helpers.scan(store.client, index=store.docs_index, _source=_FIELDS,
                            query={"query": {"terms": {"site": list(site_ids)}}})
        return {
            hit["_source"]["url"]: KnownPage(
                etag=hit["_source"].get("etag"),
                last_modified=hit["_source"].get("last_modified"),
                content_sha256=hit["_source"].get("content_sha256", ""),
                links=tuple(hit["_source"].get("links") or ()),
            )
            for hit in hits
        }
    except NotFoundError:
        return {}
    except (StoreUnavailable, TransportError, ApiError) as exc:
        log.warning("cannot read known pages from Elasticsearch, crawling everything: %s", exc)
        return {}
