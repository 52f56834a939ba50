"""The Elasticsearch store: connection, versioned index templates, bulk writes, alert search.

Why one module: every path that writes or reads finwatch's indexes (pipeline, CLI, tests) goes
through here, so index names, template versions and id rules cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from monitor import es_local

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).with_name("index_templates")
INDEX_KINDS = ("docs", "alerts", "crawls")
# Kinds whose index is created by the component that first writes to it (Store.ensure_index).
ON_DEMAND_KINDS = ("digests",)


class StoreUnavailable(RuntimeError):
    """Elasticsearch cannot be reached or refuses the request; the message names the cluster."""


def connect(url: str | None = None) -> Elasticsearch:
    """A client for ELASTICSEARCH_URL (auth from the environment) or for the local node.

    Secrets come only from the environment: ELASTICSEARCH_API_KEY, or ELASTICSEARCH_USERNAME and
    ELASTICSEARCH_PASSWORD; ELASTICSEARCH_CA_CERTS for a private CA.
    """
    url = url or os.environ.get("ELASTICSEARCH_URL")
    if not url:
        node = es_local.running_node()
        if node is None:
            raise StoreUnavailable(
                "no Elasticsearch: ELASTICSEARCH_URL is not set and no local node is running "
                "(start one with `finwatch es start`)")
        url = node.url
    options: dict[str, Any] = {"request_timeout": 30}
    if api_key := os.environ.get("ELASTICSEARCH_API_KEY"):
        options["api_key"] = api_key
    elif user := os.environ.get("ELASTICSEARCH_USERNAME"):
        options["basic_auth"] = (user, os.environ.get("ELASTICSEARCH_PASSWORD", ""))
    if ca_certs := os.environ.get("ELASTICSEARCH_CA_CERTS"):
        options["ca_certs"] = ca_certs
    return Elasticsearch(url, **options)


def _cluster_url(client: Elasticsearch) -> str:
    try:
        return ", ".join(str(node.base_url) for node in client.transport.node_pool.all())
    except AttributeError:  # pragma: no cover - defensive, transport internals vary
        return "the configured cluster"


def load_template(kind: str, prefix: str) -> dict[str, Any]:
    """An index template body with the prefix filled in (the files hold `{prefix}`)."""
    raw = json.loads((TEMPLATE_DIR / f"{kind}.json").read_text(encoding="utf-8"))
    raw.pop("_comment", None)
    raw["index_patterns"] = [p.format(prefix=prefix) for p in raw["index_patterns"]]
    return raw


@dataclass
class BulkOutcome:
    """What one bulk write did: how many items succeeded, and every failed item with its reason."""

    ok: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)


class Store:
    """finwatch's two indexes (`<prefix>-docs`, `<prefix>-alerts`) on one cluster."""

    def __init__(self, client: Elasticsearch, prefix: str | None = None) -> None:
        self.client = client
        self.prefix = prefix or os.environ.get("FINWATCH_INDEX_PREFIX", "finwatch")

    @classmethod
    def from_env(cls, prefix: str | None = None) -> Store:
        return cls(connect(), prefix)

    def index(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    @property
    def alerts_index(self) -> str:
        return self.index("alerts")

    @property
    def docs_index(self) -> str:
        return self.index("docs")

    def ensure_templates(self) -> None:
        """Put each template when missing or older than ours, then create missing indexes.

        An existing index gets the template's (additive) mapping too, so a new field appears
        without re-indexing.
        """
        for kind in INDEX_KINDS:
            self.ensure_index(kind)

    def ensure_index(self, kind: str) -> None:
        """Template and index for one kind; also used for kinds created on first use (digests),
        so a crawl never creates indexes it does not write."""
        try:
            body = load_template(kind, self.prefix)
            name = f"{self.prefix}-{kind}-template"
            current = None
            if self.client.indices.exists_index_template(name=name):
                found = self.client.indices.get_index_template(name=name)["index_templates"]
                current = found[0]["index_template"].get("version") if found else None
            if current is None or current < body["version"]:
                self.client.indices.put_index_template(name=name, **body)
                if self.client.indices.exists(index=self.index(kind)):
                    self.client.indices.put_mapping(index=self.index(kind),
                                                    body=body["template"]["mappings"])
            if not self.client.indices.exists(index=self.index(kind)):
                self.client.options(ignore_status=400).indices.create(index=self.index(kind))
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch at {_cluster_url(self.client)}: "
                                   f"cannot set up indexes: {exc}") from exc

    def bulk(self, actions: Iterable[dict[str, Any]]) -> BulkOutcome:
        """Write actions with the official streaming helper; collect, never drop, failures.

        Raises StoreUnavailable when the cluster cannot be reached at all, so the caller can
        keep the whole batch.
        """
        outcome = BulkOutcome()
        try:
            for ok, item in helpers.streaming_bulk(
                self.client, actions, raise_on_error=False, raise_on_exception=False,
                max_retries=3, initial_backoff=1, chunk_size=500,
            ):
                if ok:
                    outcome.ok += 1
                else:
                    outcome.failed.append(item)
        except TransportError as exc:
            raise StoreUnavailable(
                f"Elasticsearch at {_cluster_url(self.client)} unreachable: {exc}") from exc
        return outcome

    def action(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """The bulk action for a record of any kind (what the spool keeps and replays)."""
        if kind == "alerts":
            return self.alert_action(body)
        if kind == "docs":
            return self.doc_action(body)
        if kind == "doc_checks":
            return self.doc_check_action(body)
        if kind == "crawls":
            return {"_op_type": "index", "_index": self.index("crawls"),
                    "_id": f"{body['run_id']}:{body['site']}", "_source": body}
        raise ValueError(f"unknown record kind {kind!r}")

    def doc_check_action(self, check: dict[str, Any]) -> dict[str, Any]:
        """An unchanged page: only its check time moves."""
        return {"_op_type": "update", "_index": self.docs_index, "_id": check["doc_id"],
                "doc": {"last_checked": check["last_checked"], "change": check["change"]}}

    def doc_action(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Pages are overwritten by each crawl: the id is the URL's hash."""
        return {"_op_type": "index", "_index": self.docs_index, "_id": doc["doc_id"],
                "_source": doc}

    def alert_action(self, alert: dict[str, Any]) -> dict[str, Any]:
        """Alerts are upserts: a re-crawl of the same content only moves `last_seen`."""
        return {
            "_op_type": "update", "_index": self.alerts_index, "_id": alert["alert_id"],
            "doc": {"last_seen": alert["last_seen"], "url": alert["url"]},
            "upsert": alert,
        }

    def drop(self) -> None:
        """Delete every index and index template under this prefix (test and demo clean-up)."""
        client = self.client.options(ignore_status=404)
        client.indices.delete(index=f"{self.prefix}-*", expand_wildcards="all")
        for kind in (*INDEX_KINDS, *ON_DEMAND_KINDS):
            client.indices.delete_index_template(name=f"{self.prefix}-{kind}-template")

    def refresh(self) -> None:
        self.client.indices.refresh(index=f"{self.prefix}-*")

    def search_alerts(self, query: str, words: list[str], *, size: int = 20,
                      filters: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Alerts matching a Chinese query, best first.

        `words` are the query's jieba words: they match `text_words` (whole words), while the
        phrase match on `text` finds the exact characters.
        """
        must: list[dict[str, Any]] = []
        if query.strip():
            must.append({"bool": {"minimum_should_match": 1, "should": [
                {"match_phrase": {"text": {"query": query, "boost": 2}}},
                {"match": {"text_words": {"query": " ".join(words), "operator": "and"}}},
                {"match_phrase": {"page_title": query}},
                {"term": {"site_name": query}},
                {"term": {"violations": query}},
            ]}})
        filter_clauses = [{"term": {key: value}} for key, value in (filters or {}).items() if value]
        body = {"bool": {"must": must or [{"match_all": {}}], "filter": filter_clauses}}
        try:
            resp = self.client.search(index=self.alerts_index, query=body, size=size,
                                      sort=["_score", {"risk_score": "desc"}])
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"search on {self.alerts_index} failed: {exc}") from exc
        return [hit["_source"] | {"_id": hit["_id"]} for hit in resp["hits"]["hits"]]

    def count(self, kind: str) -> int:
        return int(self.client.count(index=self.index(kind))["count"])

    def iter_all(self, kind: str) -> Iterator[dict[str, Any]]:
        query = {"query": {"match_all": {}}}
        for hit in helpers.scan(self.client, index=self.index(kind), query=query):
            yield hit["_source"]
