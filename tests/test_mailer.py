"""The SMTP mailer: settings from the environment, bounded retries, STARTTLS and login.

Retry and STARTTLS branches use a fake SMTP class that records calls; one test runs STARTTLS
with authentication against a real aiosmtpd server on loopback with a throw-away certificate.
"""

from __future__ import annotations

import email
import smtplib
import socket
import ssl
import subprocess
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.mailer import MailError, SmtpSettings, send


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "【互联网金融风险监测周报】测试"
    msg["From"] = "finwatch@example.org"
    msg.set_content("正文")
    return msg


class FakeSMTP:
    """Behaves as told by `plan` (one entry per connection): an exception to raise on connect,
    or a dict of options (extensions offered, reply to send_message)."""

    def __init__(self, plan: list[Any]) -> None:
        self.plan, self.calls, self.connections = plan, [], 0

    def __call__(self, host: str, port: int, timeout: float) -> FakeSMTP:
        self.connections += 1
        step = self.plan.pop(0)
        if isinstance(step, BaseException):
            raise step
        self.options = step
        self.calls.append(("connect", host, port))
        return self

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("quit",))

    def ehlo(self) -> None:
        self.calls.append(("ehlo",))

    def has_extn(self, name: str) -> bool:
        return name in self.options.get("extensions", ())

    def starttls(self, context: ssl.SSLContext) -> None:
        self.calls.append(("starttls",))

    def login(self, user: str, password: str) -> None:
        self.calls.append(("login", user, password))

    def send_message(self, msg: EmailMessage, from_addr: str, to_addrs: list[str]) -> dict:
        if error := self.options.get("send_error"):
            raise error
        self.calls.append(("send", from_addr, tuple(to_addrs)))
        return {}


def test_settings_come_from_the_environment() -> None:
    s = SmtpSettings.from_env({"FINWATCH_SMTP_HOST": "127.0.0.5", "FINWATCH_SMTP_PORT": "587",
                               "FINWATCH_SMTP_STARTTLS": "true", "FINWATCH_SMTP_USER": "u",
                               "FINWATCH_SMTP_PASSWORD": "p", "FINWATCH_SMTP_FROM": "a@b.org",
                               "FINWATCH_SMTP_ATTEMPTS": "5", "FINWATCH_SMTP_BACKOFF": "0.1"})
    assert (s.address, s.starttls, s.username, s.password, s.sender, s.attempts, s.backoff) == (
        "127.0.0.5:587", True, "u", "p", "a@b.org", 5, 0.1)
    assert SmtpSettings.from_env({}).starttls is False
    with pytest.raises(MailError, match="FINWATCH_SMTP"):
        SmtpSettings.from_env({"FINWATCH_SMTP_PORT": "twenty-five"})


def test_transient_failures_are_retried_with_backoff() -> None:
    fake = FakeSMTP([ConnectionRefusedError("refused"),
                     {"send_error": smtplib.SMTPResponseException(451, b"try later")}, {}])
    sleeps: list[float] = []
    settings = SmtpSettings(port=2525, attempts=3, backoff=0.5)
    send(message(), settings, ["x@example.org"], smtp_class=fake, sleep=sleeps.append)
    assert fake.connections == 3 and sleeps == [0.5, 1.0]
    assert ("send", "finwatch@localhost", ("x@example.org",)) in fake.calls


def test_giving_up_names_host_port_and_attempts() -> None:
    fake = FakeSMTP([TimeoutError("timed out")] * 3)
    sleeps: list[float] = []
    with pytest.raises(MailError, match=r"SMTP 127\.0\.0\.1:2525: not delivered after 3 "
                                        r"attempt\(s\): TimeoutError"):
        send(message(), SmtpSettings(port=2525, attempts=3, backoff=0.25), ["x@example.org"],
             smtp_class=fake, sleep=sleeps.append)
    assert sleeps == [0.25, 0.5]  # no sleep after the last attempt


def test_permanent_rejections_are_not_retried() -> None:
    fake = FakeSMTP([{"send_error": smtplib.SMTPResponseException(550, b"no such user")}, {}])
    with pytest.raises(MailError, match="rejected: 550"):
        send(message(), SmtpSettings(attempts=3, backoff=0), ["x@example.org"], smtp_class=fake,
             sleep=lambda _: None)
    assert fake.connections == 1


def test_starttls_then_login_then_send() -> None:
    fake = FakeSMTP([{"extensions": ("starttls",)}])
    settings = SmtpSettings(starttls=True, username="relay-user", password="s3cret")
    send(message(), settings, ["x@example.org"], smtp_class=fake)
    assert [c[0] for c in fake.calls] == ["connect", "ehlo", "starttls", "ehlo", "login", "send",
                                          "quit"]
    assert ("login", "relay-user", "s3cret") in fake.calls


def test_starttls_required_but_not_offered_fails_without_sending() -> None:
    fake = FakeSMTP([{"extensions": ()}])
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send(message(), SmtpSettings(starttls=True, attempts=3), ["x@example.org"],
             smtp_class=fake, sleep=lambda _: None)
    assert not [c for c in fake.calls if c[0] == "send"] and fake.connections == 1


def test_no_recipients_is_an_error() -> None:
    with pytest.raises(MailError, match="no recipients"):
        send(message(), SmtpSettings(), [])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.messages.append(envelope.content)
        return "250 OK"


def _check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"relay-user", b"s3cret")
    return AuthResult(success=ok)


def test_real_starttls_with_login_on_loopback(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=tls,
                            require_starttls=True, authenticator=_check_login,
                            auth_required=True, auth_require_tls=True)
    controller.start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, starttls=True, username="relay-user",
                                password="s3cret", ca_certs=str(cert), attempts=1, timeout=5)
        send(message(), settings, ["x@example.org"])
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    got = email.message_from_bytes(inbox.messages[0], policy=policy.default)
    assert got["Subject"] == "【互联网金融风险监测周报】测试"
