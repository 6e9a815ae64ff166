"""E-mail notifications against a real SMTP server (aiosmtpd) on loopback: STARTTLS with a
certificate the target trusts through ``ca_file``, a login whose password comes from an
environment variable and never reaches a log, permanent and temporary refusals, SSRF."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conveyor.errors import ConfigError
from conveyor.notify import (
    DeliveryFailed,
    Dispatcher,
    EmailNotifier,
    Notification,
    NotifyConfig,
    build_notifiers,
)

PASSWORD = "smtp-pass-do-not-log-4e1b"
ENV = {"SMTP_PASSWORD": PASSWORD}


@dataclass
class Mailbox:
    """What the server accepted, and how each session was."""

    port: int
    messages: list[tuple[str, list[str], Message, bool]] = field(default_factory=list)
    answer: str = "250 Message accepted for delivery"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer.startswith("250"):
            message = message_from_bytes(envelope.content, policy=policy.default)
            tls = session.ssl is not None
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message, tls))
        return self.answer


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (openssl, one day)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"alerts@example.com",
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # a failure answers 535


@pytest.fixture
def mailbox(certificate: tuple[Path, Path]) -> Iterator[Mailbox]:
    import ssl

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*map(str, certificate))
    box = Mailbox(_free_port())
    server = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        loop=asyncio.new_event_loop(),
        tls_context=tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    )
    server.start()
    try:
        yield box
    finally:
        server.stop()
        server.loop.close()


def email(box: Mailbox, cert: Path, **extra: object) -> dict[str, object]:
    body = {
        "name": "oncall-mail",
        "host": "localhost",
        "port": box.port,
        "username": "alerts@example.com",
        "password_env": "SMTP_PASSWORD",
        "from": "conveyor@example.com",
        "to": ["oncall@example.com", "ml@example.com"],
        "ca_file": str(cert),
        "allow_private": True,
        **extra,
    }
    return {"email": body}


def notifier(*targets: dict[str, object], environ: dict[str, str] = ENV) -> EmailNotifier:
    [built] = build_notifiers(NotifyConfig.model_validate(list(targets)), environ)
    assert isinstance(built, EmailNotifier)
    return built


def firing() -> Notification:
    return Notification(
        "alert.firing",
        "churn",
        "3",
        "[critical] churn-errors: churn v3: error rate 3.10% over the last 5m",
        details={"rule": "churn-errors", "severity": "critical", "value": 0.031},
        dedup_key="churn-errors:churn:3",
    )


def test_an_alert_arrives_over_starttls_after_login(
    mailbox: Mailbox, certificate: tuple[Path, Path]
) -> None:
    notification = firing()
    notifier(email(mailbox, certificate[0])).send(notification)

    [(sender, recipients, message, tls)] = mailbox.messages
    assert tls  # STARTTLS happened (the server requires it before anything else)
    assert sender == "conveyor@example.com"
    assert recipients == ["oncall@example.com", "ml@example.com"]
    assert message["Subject"] == (
        "[Conveyor] FIRING (critical): [critical] churn-errors: churn v3: error rate 3.10% "
        "over the last 5m"
    )
    assert message["X-Conveyor-Event-Id"] == notification.id
    assert message["X-Conveyor-Dedup-Key"] == "churn-errors:churn:3"
    text = message.get_content()  # type: ignore[attr-defined]
    assert "severity: critical" in text
    assert "model: churn version 3" in text


def test_a_wrong_password_is_refused_not_retried_and_never_logged(
    mailbox: Mailbox, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    target = notifier(
        email(mailbox, certificate[0]), environ={"SMTP_PASSWORD": "wrong-" + PASSWORD}
    )
    with pytest.raises(DeliveryFailed) as refused:
        target.send(firing())
    assert refused.value.retryable is False
    assert "answered 535" in refused.value.message

    dispatcher = Dispatcher(
        [
            notifier(
                email(mailbox, certificate[0], max_attempts=3),
                environ={"SMTP_PASSWORD": "x" + PASSWORD},
            )
        ]
    )
    dispatcher.notify(firing())
    dispatcher.close(timeout_s=20)
    [stats] = dispatcher.stats()
    assert (stats.failed, stats.attempts) == (1, 1)
    assert "not delivered after 1 attempt(s)" in caplog.text
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(target)
    assert mailbox.messages == []


def test_a_temporary_refusal_is_retried(mailbox: Mailbox, certificate: tuple[Path, Path]) -> None:
    mailbox.answer = "451 Try again later"
    with pytest.raises(DeliveryFailed) as refused:
        notifier(email(mailbox, certificate[0])).send(firing())
    assert refused.value.retryable is True
    assert "answered 451" in refused.value.message


def test_a_server_without_starttls_is_a_clear_failure(certificate: tuple[Path, Path]) -> None:
    box = Mailbox(_free_port())
    server = Controller(box, hostname="127.0.0.1", port=box.port, loop=asyncio.new_event_loop())
    server.start()
    try:
        plain = {"username": None, "password_env": None}
        with pytest.raises(DeliveryFailed, match="set starttls: false"):
            notifier(email(box, certificate[0], **plain)).send(firing())
        notifier(email(box, certificate[0], **plain, starttls=False)).send(firing())
    finally:
        server.stop()
        server.loop.close()
    [(_, _, message, tls)] = box.messages
    assert not tls
    assert message["X-Conveyor-Event"] == "alert.firing"


def test_a_mail_server_at_a_metadata_address_is_refused_at_startup(
    certificate: tuple[Path, Path],
) -> None:
    box = Mailbox(25)
    with pytest.raises(ConfigError, match="refused by the 'metadata' rule"):
        notifier(email(box, certificate[0], host="169.254.169.254"))
    with pytest.raises(ConfigError, match=r"password_env names the environment variable"):
        notifier(email(box, certificate[0]), environ={})


def test_email_gets_every_event_by_default_and_checks_its_addresses() -> None:
    config = NotifyConfig.model_validate(
        [{"email": {"host": "mx.example.com", "from": "a@example.com", "to": ["b@example.com"]}}]
    )
    [target] = config.targets
    assert target.wants("rollout.promoted")
    assert target.wants("alert.resolved")
    with pytest.raises(ValueError, match="is not an e-mail address"):
        NotifyConfig.model_validate(
            [{"email": {"host": "mx", "from": "a@b.c", "to": ["x@y.z\r\nBcc: evil@z.z"]}}]
        )
