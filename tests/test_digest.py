"""The weekly digest: week arithmetic, the queries on the real node, rendering, the dry run."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path

import pytest
from test_digest_fixtures import HOSTILE_TEXT, WEEK, seeded_alerts_fixture, seeded_fixture  # noqa: F401

from monitor.cli import main
from monitor.digest.compose import render
from monitor.digest.query import collect, highlight
from monitor.digest.service import build, write_dry_run
from monitor.digest.week import Week
from monitor.routing import Router
from monitor.store import Store

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def test_week_parse_and_bounds_are_in_the_users_zone() -> None:
    week = Week.parse("2026-W48")
    assert week.start.isoformat() == "2026-11-23T00:00:00+08:00"
    assert week.end.isoformat() == "2026-11-30T00:00:00+08:00"
    assert week.title_zh == "2026年第48周（11月23日—11月29日）"
    # Sunday 17:00 UTC is Monday 01:00 in Tianjin: the next week.
    assert Week.containing(datetime(2026, 11, 29, 17, 0, tzinfo=UTC)).label == "2026-W49"
    assert Week.parse("2027-W01").previous().label == "2026-W53"
    with pytest.raises(ValueError, match="YYYY-Www"):
        Week.parse("2026-48")
    with pytest.raises(ValueError, match="no ISO week 54"):
        Week.parse("2026-W54")


def test_highlight_marks_evidence_inside_a_window() -> None:
    text = "前" * 50 + "保本保息" + "后" * 200
    pieces = highlight(text, [(50, 54)])
    assert pieces[0] == ("…", False) and pieces[-1] == ("…", False)
    assert ("保本保息", True) in pieces
    assert [p for p, mark in pieces if mark] == ["保本保息"]


@pytest.mark.es
def test_collect_counts_the_units_new_alerts_by_local_day(seeded: Store) -> None:
    data = collect(seeded, "gxw", "区工信委", Week.parse(WEEK))
    assert data.total == 3  # a1, a2, a3: not a4 (next week), a5 (last week), a6 (other unit)
    assert data.previous_total == 1 and data.still_seen == 1
    assert data.change == 2
    assert dict(data.per_day) == {date(2026, 11, 23): 1, date(2026, 11, 24): 0,
                                  date(2026, 11, 25): 1, date(2026, 11, 26): 0,
                                  date(2026, 11, 27): 0, date(2026, 11, 28): 0,
                                  date(2026, 11, 29): 1}
    assert data.per_sector == [("网络借贷", 3)]
    assert [a.alert_id for a in data.top] == ["a1", "a2", "a3"]  # by risk
    assert data.entity_changes == []
    other = collect(seeded, "fgj", "区房管局", Week.parse(WEEK))
    assert other.total == 1 and other.per_sector == [("房地产金融", 1)]


@pytest.mark.es
def test_crawled_text_is_escaped_and_only_web_urls_are_links(seeded: Store) -> None:
    data = collect(seeded, "gxw", "区工信委", Week.parse(WEEK))
    rendered = render(data, sender="finwatch@example.org", recipients=[], now=NOW)
    assert "<script>" not in rendered.html and "<b>坏站</b>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rendered.html
    assert "&lt;b&gt;坏站&lt;/b&gt;" in rendered.html
    assert 'href="javascript:' not in rendered.html
    assert 'href="http://127.0.0.14:18600/a1.html"' in rendered.html
    # The text part is not HTML: the same text appears verbatim there.
    assert '<script>alert("x")</script>' in rendered.text and HOSTILE_TEXT


@pytest.mark.es
def test_message_has_text_html_and_inline_charts(seeded: Store) -> None:
    router = Router.from_file()
    rendered = build(seeded, router, "gxw", Week.parse(WEEK), sender="finwatch@example.org",
                     now=NOW, recipients=["gxw@example.org"])
    msg = email.message_from_bytes(bytes(rendered.message), policy=policy.default)
    assert msg["Subject"] == ("【互联网金融风险监测周报】区工信委 "
                              "2026年第48周（11月23日—11月29日）：新增告警 3 条")
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "本周新增告警：3（较上周增加 2 条（+200%））" in plain
    assert "在 Kibana 中查看本周全部告警：http://127.0.0.1:5601/app/discover#/view/" \
           "finwatch-search-unit-gxw?_g=(time:(from:'2026-11-22T16:00:00.000Z'," \
           "to:'2026-11-29T16:00:00.000Z'))" in plain
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for part in images:
        assert part.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"cid:{part['Content-ID'].strip('<>')}" in html
    assert "本周无。" in html  # no entities index yet


@pytest.mark.es
def test_entity_status_changes_are_listed_once_the_index_exists(seeded: Store) -> None:
    index = seeded.index("entities")
    seeded.client.index(index=index, id="e1", refresh=True, document={
        "entity_id": "e1", "name": "天津鑫融宝信息科技有限公司", "units": ["gxw"],
        "status": "已立案", "status_changed_at": "2026-11-26T02:00:00+00:00",
        "history": [{"status": "排查中", "at": "2026-11-01T00:00:00+00:00"},
                    {"status": "已立案", "at": "2026-11-26T02:00:00+00:00"}]})
    seeded.client.index(index=index, id="e2", refresh=True, document={
        "entity_id": "e2", "name": "上周变更的公司", "units": ["gxw"], "status": "已结案",
        "status_changed_at": "2026-11-16T02:00:00+00:00", "history": []})
    data = collect(seeded, "gxw", "区工信委", Week.parse(WEEK))
    assert [(e.name, e.previous_status, e.status) for e in data.entity_changes] == [
        ("天津鑫融宝信息科技有限公司", "排查中", "已立案")]
    html = render(data, sender="f@example.org", recipients=[], now=NOW).html
    assert "天津鑫融宝信息科技有限公司" in html and "本周无。" not in html


@pytest.mark.es
def test_dry_run_command_writes_eml_preview_and_charts(seeded: Store, es_url: str,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", es_url)
    code = main(["digest", "--dry-run", "--week", WEEK, "--unit", "gxw", "--unit", "fgj",
                 "--index-prefix", seeded.prefix, "--out", str(tmp_path)])
    assert code == 0
    folder = tmp_path / f"gxw-{WEEK}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "daily.png", f"gxw-{WEEK}.eml", f"gxw-{WEEK}.html", "sector.png"]
    preview = (folder / f"gxw-{WEEK}.html").read_text(encoding="utf-8")
    assert 'src="daily.png"' in preview and "区工信委" in preview
    assert (tmp_path / f"fgj-{WEEK}" / f"fgj-{WEEK}.eml").is_file()
    assert not seeded.client.indices.exists(index=seeded.index("digests"))  # nothing recorded


def test_dry_run_rejects_an_unknown_unit_and_a_bad_week(capsys: pytest.CaptureFixture) -> None:
    assert main(["digest", "--dry-run", "--unit", "nope"]) == 2
    assert "unknown unit(s) nope" in capsys.readouterr().err
    assert main(["digest", "--dry-run", "--week", "W48"]) == 2
    assert "YYYY-Www" in capsys.readouterr().err


def test_write_dry_run_names_files_by_unit_and_week(tmp_path: Path) -> None:
    from monitor.digest.query import DigestData

    data = DigestData(unit="wxb", unit_name="区网信办", week=Week.parse(WEEK),
                      per_day=[(d, 0) for d in Week.parse(WEEK).days])
    paths = write_dry_run(render(data, sender="f@example.org", recipients=[], now=NOW), tmp_path)
    assert [p.name for p in paths[:2]] == [f"wxb-{WEEK}.eml", f"wxb-{WEEK}.html"]
    assert "本周无新增告警。" in paths[1].read_text(encoding="utf-8")


def test_recipients_come_from_the_environment_or_units_yaml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    units = tmp_path / "units.yaml"
    units.write_text("version: 1\nunits:\n  gxw: {name: 区工信委, emails: [duty@example.org]}\n"
                     "  fgw: {name: 区发改委}\nroutes:\n  by_sector: {none: [gxw]}\n",
                     encoding="utf-8")
    router = Router.from_file(units)
    monkeypatch.delenv("FINWATCH_UNIT_GXW_EMAILS", raising=False)
    monkeypatch.delenv("FINWATCH_UNIT_FGW_EMAILS", raising=False)
    assert router.recipients("gxw") == ["duty@example.org"] and router.recipients("fgw") == []
    monkeypatch.setenv("FINWATCH_UNIT_GXW_EMAILS", " a@example.org,b@example.org ,")
    assert router.recipients("gxw") == ["a@example.org", "b@example.org"]
