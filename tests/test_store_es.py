"""The store on the real local Elasticsearch node: templates, idempotent alerts, Chinese search."""

from __future__ import annotations

import pytest

from monitor.store import Store, StoreUnavailable, connect, load_template

pytestmark = pytest.mark.es


def alert(alert_id: str, text: str, seen: str, **extra: object) -> dict:
    return {
        "alert_id": alert_id, "schema_version": 1, "kind": "ad", "site": "baodi_news",
        "site_name": "宝坻在线", "site_kind": "news_portal", "domain": "127.0.0.11",
        "url": "http://127.0.0.11:18600/", "doc_id": "d1", "page_title": "首页", "text": text,
        "text_words": " ".join(text), "verdict": "violation", "verdict_zh": "违规",
        "sector": "asset_management", "sector_zh": "资产管理",
        "violations": ["guaranteed_return"], "violations_zh": ["承诺保本保收益"],
        "risk_score": 0.9, "summary_zh": "承诺保本保收益：“保本保息”",
        "evidence": [{"code": "guaranteed_return", "start": 0, "end": 4, "text": "保本保息",
                      "rule": "gr.baoben"}],
        "units": ["jrzx", "scjgj"], "lead_unit": "jrzx", "classifier": "test",
        "content_sha256": "x", "fetched_at": seen, "first_seen": seen, "last_seen": seen,
        **extra,
    }


def test_templates_are_versioned_and_mappings_keyword_where_needed(store: Store) -> None:
    client = store.client
    template = client.indices.get_index_template(name=f"{store.prefix}-alerts-template")
    shipped = load_template("alerts", store.prefix)["version"]
    assert template["index_templates"][0]["index_template"]["version"] == shipped >= 1
    props = client.indices.get_mapping(index=store.alerts_index)[store.alerts_index][
        "mappings"]["properties"]
    for field in ("url", "domain", "site", "sector", "violations", "units", "verdict"):
        assert props[field]["type"] == "keyword", field
    assert props["text"]["analyzer"] == "standard"
    assert props["text_words"]["analyzer"] == "whitespace"
    assert props["risk_score"]["type"] == "float"
    assert props["first_seen"]["type"] == "date"
    store.ensure_templates()  # idempotent on a second start-up


def test_same_alert_twice_is_one_document_with_first_seen_kept(store: Store) -> None:
    first = alert("a1", "保本保息 年化18%", "2026-11-01T08:00:00+00:00")
    again = alert("a1", "保本保息 年化18%", "2026-11-08T08:00:00+00:00")
    assert store.bulk([store.alert_action(first)]).ok == 1
    assert store.bulk([store.alert_action(again)]).ok == 1
    store.refresh()
    assert store.count("alerts") == 1
    doc = store.client.get(index=store.alerts_index, id="a1")["_source"]
    assert doc["first_seen"] == "2026-11-01T08:00:00+00:00"
    assert doc["last_seen"] == "2026-11-08T08:00:00+00:00"


def test_rejected_items_are_reported_not_dropped(store: Store) -> None:
    bad = alert("a2", "首付贷", "2026-11-01T08:00:00+00:00", unknown_field=1)  # strict mapping
    outcome = store.bulk([store.alert_action(bad),
                          store.alert_action(alert("a3", "x", "2026-11-01T08:00:00+00:00"))])
    assert outcome.ok == 1
    assert len(outcome.failed) == 1
    assert outcome.failed[0]["update"]["_id"] == "a2"


def test_chinese_phrase_and_word_search(store: Store) -> None:
    store.bulk([
        store.alert_action(alert("p1", "众筹买房 首付贷 轻松上车", "2026-11-01T08:00:00+00:00",
                                 text_words="众筹 买房 首付 贷 轻松 上车")),
        store.alert_action(alert("p2", "银行定期存款利率公告", "2026-11-01T08:00:00+00:00",
                                 text_words="银行 定期存款 利率 公告")),
    ])
    store.refresh()
    assert [h["alert_id"] for h in store.search_alerts("众筹买房", ["众筹", "买房"])] == ["p1"]
    assert [h["alert_id"] for h in store.search_alerts("定期存款", ["定期存款"])] == ["p2"]
    assert store.search_alerts("买众筹", ["买", "众筹"]) == []  # neither the phrase nor both words
    filtered = store.search_alerts("", [], filters={"units": "jrzx"})
    assert {h["alert_id"] for h in filtered} == {"p1", "p2"}


def test_unreachable_cluster_is_a_clear_error() -> None:
    store = Store(connect("http://127.0.0.1:9"), prefix="fwtest-unreachable")
    with pytest.raises(StoreUnavailable, match="127.0.0.1:9"):
        store.ensure_templates()
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.bulk([store.alert_action(alert("z", "x", "2026-11-01T08:00:00+00:00"))])


def test_newer_template_version_adds_fields_to_an_existing_index(store: Store) -> None:
    """Start-up after an upgrade: the older template is replaced and the index gains fields."""
    client = store.client
    name = f"{store.prefix}-docs-template"
    old = load_template("docs", store.prefix)
    old["version"] = 0
    del old["template"]["mappings"]["properties"]["links"]
    client.indices.delete(index=store.docs_index)
    client.indices.put_index_template(name=name, **old)
    client.indices.create(index=store.docs_index)
    assert "links" not in client.indices.get_mapping(index=store.docs_index)[
        store.docs_index]["mappings"]["properties"]
    store.ensure_templates()
    assert "links" in client.indices.get_mapping(index=store.docs_index)[
        store.docs_index]["mappings"]["properties"]
    current = client.indices.get_index_template(name=name)["index_templates"][0]
    assert current["index_template"]["version"] == load_template("docs", store.prefix)["version"]


def test_drop_removes_indexes_and_templates_of_its_prefix_only(es_url: str, store: Store) -> None:
    other = Store(connect(es_url), prefix=f"{store.prefix}x")
    other.ensure_templates()
    other.drop()
    client = store.client
    assert not client.indices.exists(index=other.alerts_index)
    assert not client.indices.exists_index_template(name=f"{other.prefix}-alerts-template")
    assert client.indices.exists(index=store.alerts_index)  # a neighbour prefix is untouched
