"""Sending digests over a real SMTP server on loopback (aiosmtpd), exactly once per unit and week.

The sent-digest ledger lives in the real Elasticsearch node; SMTP failures use a closed port.
"""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from test_digest_fixtures import WEEK, seeded_alerts_fixture, seeded_fixture  # noqa: F401

from monitor.cli import main
from monitor.digest.ledger import DigestLedger
from monitor.digest.service import send_digest, send_due_digests
from monitor.digest.week import Week
from monitor.mailer import SmtpSettings
from monitor.routing import Router
from monitor.store import Store, StoreUnavailable

pytestmark = pytest.mark.es

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday of W49 in Tianjin: W48 is due


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def settings_for(port: int, attempts: int = 1) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="finwatch@example.org",
                        attempts=attempts, backoff=0.0, timeout=5.0)


def test_send_delivers_the_digest_once_and_records_it(seeded: Store, smtp, monkeypatch) -> None:
    inbox, port = smtp
    monkeypatch.setenv("FINWATCH_UNIT_GXW_EMAILS", "gxw-a@example.org, gxw-b@example.org")
    router, week = Router.from_file(), Week.parse(WEEK)
    first = send_digest(seeded, router, "gxw", week, settings=settings_for(port), now=NOW)
    again = send_digest(seeded, router, "gxw", week, settings=settings_for(port), now=NOW)
    assert (first.status, again.status) == ("sent", "already_sent")
    assert len(inbox.messages) == 1
    mail_from, rcpt, content = inbox.messages[0]
    assert mail_from == "finwatch@example.org"
    assert rcpt == ["gxw-a@example.org", "gxw-b@example.org"]
    msg = email.message_from_bytes(content, policy=policy.default)
    assert "区工信委" in msg["Subject"] and "新增告警 3 条" in msg["Subject"]
    html = msg.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in html and "<script>" not in html
    record = DigestLedger(seeded).get(f"gxw:{WEEK}")
    assert record is not None
    assert record["status"] == "sent" and record["alerts_total"] == 3
    assert record["recipients"] == ["gxw-a@example.org", "gxw-b@example.org"]


def test_due_digests_go_out_once_per_unit_even_after_a_restart(seeded: Store, smtp,
                                                               monkeypatch) -> None:
    inbox, port = smtp
    monkeypatch.setenv("FINWATCH_UNIT_GXW_EMAILS", "gxw@example.org")
    monkeypatch.setenv("FINWATCH_UNIT_FGJ_EMAILS", "fgj@example.org")
    for code in ("fgw", "jrzx", "scjgj", "wxb", "gafj"):
        monkeypatch.setenv(f"FINWATCH_UNIT_{code.upper()}_EMAILS", "")
    results = send_due_digests(NOW, store=seeded, settings=settings_for(port))
    by_unit = {r.unit: r for r in results}
    assert set(by_unit) == set(Router.from_file().unit_names)
    assert {r.week for r in results} == {WEEK}
    assert by_unit["gxw"].status == by_unit["fgj"].status == "sent"
    assert by_unit["wxb"].status == "failed" and "FINWATCH_UNIT_WXB_EMAILS" in by_unit["wxb"].detail
    assert sorted(m[1][0] for m in inbox.messages) == ["fgj@example.org", "gxw@example.org"]
    # A restarted scheduler: new client, same indexes, a later moment in the same week.
    restarted = Store(seeded.client, prefix=seeded.prefix)
    later = send_due_digests(NOW + timedelta(days=2), store=restarted, settings=settings_for(port))
    assert {r.unit: r.status for r in later}["gxw"] == "already_sent"
    assert len(inbox.messages) == 2


def test_unreachable_smtp_is_reported_and_nothing_is_recorded_as_sent(seeded: Store, smtp,
                                                                      monkeypatch) -> None:
    inbox, port = smtp
    monkeypatch.setenv("FINWATCH_UNIT_GXW_EMAILS", "gxw@example.org")
    router, week, dead = Router.from_file(), Week.parse(WEEK), free_port()
    result = send_digest(seeded, router, "gxw", week, settings=settings_for(dead, attempts=2),
                         now=NOW)
    assert result.status == "failed"
    assert f"127.0.0.1:{dead}" in result.detail and "after 2 attempt(s)" in result.detail
    record = DigestLedger(seeded).get(f"gxw:{WEEK}")
    assert record is not None and record["status"] == "failed"
    # The next run retries the failed digest and succeeds.
    retry = send_digest(seeded, router, "gxw", week, settings=settings_for(port), now=NOW)
    assert retry.status == "sent" and len(inbox.messages) == 1
    assert DigestLedger(seeded).get(f"gxw:{WEEK}")["attempts"] == 2


def test_send_command_names_the_unreachable_relay(seeded: Store, es_url: str, monkeypatch,
                                                  capsys) -> None:
    dead = free_port()
    for key, value in {"ELASTICSEARCH_URL": es_url, "FINWATCH_UNIT_FGJ_EMAILS": "f@example.org",
                       "FINWATCH_SMTP_HOST": "127.0.0.1", "FINWATCH_SMTP_PORT": str(dead),
                       "FINWATCH_SMTP_ATTEMPTS": "2", "FINWATCH_SMTP_BACKOFF": "0"}.items():
        monkeypatch.setenv(key, value)
    code = main(["digest", "--send", "--unit", "fgj", "--week", WEEK,
                 "--index-prefix", seeded.prefix])
    assert code == 1
    assert f"SMTP 127.0.0.1:{dead}" in capsys.readouterr().err
    assert DigestLedger(seeded).get(f"fgj:{WEEK}")["status"] == "failed"


def test_ledger_claims_are_exclusive_and_stale_ones_are_taken_over(seeded: Store) -> None:
    ledger = DigestLedger(seeded, stale_after=timedelta(minutes=30))
    claim, _ = ledger.claim("gxw", WEEK, NOW)
    assert claim is not None
    assert ledger.claim("gxw", WEEK, NOW + timedelta(minutes=5)) == (None, "sending")
    takeover, _ = ledger.claim("gxw", WEEK, NOW + timedelta(minutes=31))
    assert takeover is not None and takeover.attempts == 2
    with pytest.raises(StoreUnavailable):  # the stale claimant can no longer finish
        ledger.mark_sent(claim, NOW)
    ledger.mark_sent(takeover, NOW)
    assert ledger.claim("gxw", WEEK, NOW + timedelta(days=1)) == (None, "sent")
