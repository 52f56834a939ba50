"""Sending one e-mail over SMTP with bounded retries; settings only from the environment.

Why our own mailer: Kibana's e-mail connector is a paid feature, and the digests need a
sent-once guarantee that finwatch keeps in Elasticsearch (monitor/digest/ledger.py). Transient
failures (connection refused, timeouts, 4xx replies) are retried with exponential backoff;
permanent ones (5xx, authentication, STARTTLS unsupported) fail at once. Every failure raises
MailError naming host:port, so the operator knows which relay to look at.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage

_TRUE = {"1", "true", "yes", "on"}


class MailError(RuntimeError):
    """The message was not delivered to the relay; the text names host:port and the reason."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "finwatch@localhost"
    ca_certs: str | None = None
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """FINWATCH_SMTP_HOST, _PORT, _STARTTLS, _USER, _PASSWORD, _FROM, _CA_CERTS, _TIMEOUT,
        _ATTEMPTS, _BACKOFF (seconds before the first retry; doubled each time)."""
        env = os.environ if env is None else env
        d = cls()
        try:
            return cls(
                host=env.get("FINWATCH_SMTP_HOST") or d.host,
                port=int(env.get("FINWATCH_SMTP_PORT") or d.port),
                starttls=(env.get("FINWATCH_SMTP_STARTTLS") or "").strip().lower() in _TRUE,
                username=env.get("FINWATCH_SMTP_USER") or None,
                password=env.get("FINWATCH_SMTP_PASSWORD") or None,
                sender=env.get("FINWATCH_SMTP_FROM") or d.sender,
                ca_certs=env.get("FINWATCH_SMTP_CA_CERTS") or None,
                timeout=float(env.get("FINWATCH_SMTP_TIMEOUT") or d.timeout),
                attempts=max(1, int(env.get("FINWATCH_SMTP_ATTEMPTS") or d.attempts)),
                backoff=float(env.get("FINWATCH_SMTP_BACKOFF") or d.backoff),
            )
        except ValueError as exc:
            raise MailError(f"invalid FINWATCH_SMTP_* setting: {exc}") from exc

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class _Permanent(Exception):
    pass


def _deliver(msg: EmailMessage, settings: SmtpSettings, recipients: list[str],
             smtp_class: Callable[..., smtplib.SMTP]) -> None:
    with smtp_class(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.ehlo()
        if settings.starttls:
            if not smtp.has_extn("starttls"):
                raise _Permanent("the server does not offer STARTTLS (FINWATCH_SMTP_STARTTLS=1)")
            smtp.starttls(context=ssl.create_default_context(cafile=settings.ca_certs))
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        refused = smtp.send_message(msg, from_addr=settings.sender, to_addrs=recipients)
        if refused:
            raise _Permanent(f"recipients refused: {refused}")


def send(msg: EmailMessage, settings: SmtpSettings, recipients: list[str], *,
         smtp_class: Callable[..., smtplib.SMTP] = smtplib.SMTP,
         sleep: Callable[[float], None] = time.sleep) -> None:
    """Deliver `msg` to the relay for `recipients`, or raise MailError after the last attempt."""
    if not recipients:
        raise MailError("no recipients")
    last = "no attempt made"
    for attempt in range(1, settings.attempts + 1):
        try:
            _deliver(msg, settings, recipients, smtp_class)
            return
        except _Permanent as exc:
            raise MailError(f"SMTP {settings.address}: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            reason = f"{exc.smtp_code} {exc.smtp_error!r}"
            if not 400 <= exc.smtp_code < 500:
                raise MailError(f"SMTP {settings.address}: rejected: {reason}") from exc
            last = reason
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError,
                ssl.SSLCertVerificationError) as exc:
            raise MailError(f"SMTP {settings.address}: {exc}") from exc
        except OSError as exc:  # refused, unreachable, timeout, disconnected
            last = f"{type(exc).__name__}: {exc}"
        if attempt < settings.attempts:
            sleep(settings.backoff * 2 ** (attempt - 1))
    raise MailError(f"SMTP {settings.address}: not delivered after {settings.attempts} "
                    f"attempt(s): {last}")
