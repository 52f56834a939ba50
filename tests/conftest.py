"""Shared fixtures: the real local Elasticsearch node and the bundled demo sites.

Elasticsearch tests never skip: if the node cannot start, the run fails and says why.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from monitor import es_local
from monitor.store import Store, connect

_counter = itertools.count()


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """URL of a real Elasticsearch 8.x: $ELASTICSEARCH_URL, or the local node (started once)."""
    if url := os.environ.get("ELASTICSEARCH_URL"):
        yield url
        return
    try:
        node = es_local.start()
    except es_local.LocalElasticsearchError as exc:
        pytest.fail(f"the local Elasticsearch node could not start: {exc}", pytrace=False)
    yield node.url


@pytest.fixture
def store(es_url: str) -> Iterator[Store]:
    """A Store on the real node with indexes of its own, deleted after the test."""
    s = Store(connect(es_url), prefix=f"fwtest-{os.getpid()}-{next(_counter)}")
    s.ensure_templates()
    yield s
    s.drop()


@pytest.fixture(scope="session")
def demo_sites() -> Iterator[dict[str, str]]:
    """The bundled demo sites on loopback (reused if a demo server already runs)."""
    from monitor.demo_server import DemoSites

    with DemoSites() as sites:
        yield dict(sites.urls)
