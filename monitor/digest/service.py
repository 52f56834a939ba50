"""Building, writing and sending digests; `send_due_digests` is what the scheduler calls weekly.

Why results instead of exceptions per unit: one unit's missing recipients or a relay outage must
not stop the other units' digests; each outcome is returned (and logged) for the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitor import mailer
from monitor.digest.compose import RenderedDigest, render
from monitor.digest.ledger import DigestLedger
from monitor.digest.query import collect
from monitor.digest.week import Week
from monitor.routing import Router
from monitor.store import Store

log = logging.getLogger(__name__)

Sender = Callable[..., None]


@dataclass(frozen=True)
class DigestResult:
    """status: written (dry run), sent, already_sent, in_progress, failed."""

    unit: str
    week: str
    status: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.unit} {self.week}: {self.status}" + (f" ({self.detail})" if self.detail
                                                             else "")


def build(store: Store, router: Router, unit: str, week: Week, *, sender: str,
          now: datetime, recipients: list[str] | None = None) -> RenderedDigest:
    if unit not in router.unit_names:
        raise ValueError(f"unknown unit {unit!r}; known: {', '.join(router.unit_names)}")
    data = collect(store, unit, router.unit_names[unit], week)
    return render(data, sender=sender, now=now,
                  recipients=router.recipients(unit) if recipients is None else recipients)


def write_dry_run(rendered: RenderedDigest, out_dir: Path) -> list[Path]:
    """`<unit>-<week>.eml`, `<unit>-<week>.html` (preview) and the chart PNGs it shows."""
    unit, _, week = rendered.digest_id.partition(":")
    folder = out_dir / f"{unit}-{week}"
    folder.mkdir(parents=True, exist_ok=True)
    eml = folder / f"{unit}-{week}.eml"
    eml.write_bytes(bytes(rendered.message))
    preview = folder / f"{unit}-{week}.html"
    preview.write_text(rendered.preview_html, encoding="utf-8")
    written = [eml, preview]
    for name, png in rendered.images.items():
        (folder / f"{name}.png").write_bytes(png)
        written.append(folder / f"{name}.png")
    return written


def send_digest(store: Store, router: Router, unit: str, week: Week, *,
                settings: mailer.SmtpSettings, now: datetime | None = None,
                send: Sender = mailer.send) -> DigestResult:
    """Send one unit's digest for one week unless the ledger says it was already sent."""
    now = now or datetime.now(UTC)
    recipients = router.recipients(unit)
    if not recipients:
        return DigestResult(unit, week.label, "failed",
                            f"no recipients: set FINWATCH_UNIT_{unit.upper()}_EMAILS or "
                            f"units.{unit}.emails in config/units.yaml")
    ledger = DigestLedger(store)
    claim, status = ledger.claim(unit, week.label, now)
    if claim is None:
        return DigestResult(unit, week.label, "already_sent" if status == "sent" else
                            "in_progress")
    try:
        rendered = build(store, router, unit, week, sender=settings.sender, now=now,
                         recipients=recipients)
        send(rendered.message, settings, recipients)
    except mailer.MailError as exc:
        ledger.mark_failed(claim, datetime.now(UTC), str(exc))
        log.error("digest %s:%s not sent: %s", unit, week.label, exc)
        return DigestResult(unit, week.label, "failed", str(exc))
    except Exception as exc:
        ledger.mark_failed(claim, datetime.now(UTC), f"{type(exc).__name__}: {exc}")
        raise
    ledger.mark_sent(claim, datetime.now(UTC), recipients=recipients, subject=rendered.subject,
                     message_id=str(rendered.message["Message-ID"]),
                     alerts_total=rendered.total)
    return DigestResult(unit, week.label, "sent", f"to {', '.join(recipients)}")


def send_due_digests(now: datetime, *, store: Store | None = None, router: Router | None = None,
                     settings: mailer.SmtpSettings | None = None,
                     send: Sender = mailer.send) -> list[DigestResult]:
    """Last week's digest for every unit, each at most once (the ledger makes repeats no-ops)."""
    store = store or Store.from_env()
    router = router or Router.from_file()
    settings = settings or mailer.SmtpSettings.from_env()
    week = Week.containing(now).previous()
    results = []
    for unit in router.unit_names:
        try:
            result = send_digest(store, router, unit, week, settings=settings, now=now, send=send)
        except Exception as exc:  # one unit's failure must not block the others
            log.exception("digest %s:%s failed", unit, week.label)
            result = DigestResult(unit, week.label, "failed", f"{type(exc).__name__}: {exc}")
        results.append(result)
    return results
