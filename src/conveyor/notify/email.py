"""``- email: {...}``: the notification as a plain-text e-mail over SMTP.

::

    - email:
        name: oncall-mail
        host: smtp.example.com
        port: 587                      # 465 with ssl: true
        starttls: true                 # upgrade the connection before logging in (default)
        username: alerts@example.com
        password_env: SMTP_PASSWORD    # the variable's NAME; its value is never logged
        from: conveyor@example.com
        to: [oncall@example.com]
        events: [alert.*]

The SMTP server is a target like any other: its host must pass the SSRF rules
(``targets.py``), resolved at startup and again before each attempt, and the connection
goes to the address just checked while TLS checks the certificate against the name.
``ca_file`` trusts a private CA (an internal relay). A failure becomes
:class:`DeliveryFailed`: retried for connection errors and 4xx replies (temporary, in
SMTP's terms), not for 5xx replies (a refused login, sender or recipient).
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar

from pydantic import ConfigDict, Field, field_validator, model_validator

from conveyor.errors import ConfigError
from conveyor.notify.base import DeliveryFailed, register_notifier, secret_from_env
from conveyor.notify.config import TargetConfig
from conveyor.notify.events import Notification
from conveyor.notify.targets import Endpoint, IPAddress, resolve_allowed

__all__ = ["EmailNotifier", "EmailTarget", "email_message"]

VERBS = {"alert.firing": "FIRING", "alert.resolved": "RESOLVED"}
SUBJECT_LIMIT = 200


class EmailTarget(TargetConfig):
    """``- email: {host, port, starttls, ssl, username, password_env, from, to, ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True  # STARTTLS before login (port 587); off for a plain relay
    ssl: bool = False  # TLS from the first byte (SMTPS, port 465)
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    ca_file: str | None = None  # PEM certificates to trust besides the system's
    subject_prefix: str = "[Conveyor]"

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for address in (value,) if isinstance(value, str) else value:
            if "@" not in address or any(c in address for c in "\r\n<>,; "):
                raise ValueError(f"{address!r} is not an e-mail address (name@domain)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EmailTarget:
        if self.ssl and self.starttls:
            raise ValueError("give 'ssl: true' (port 465) or 'starttls: true', not both")
        if (self.username is None) != (self.password_env is None):
            raise ValueError("give both 'username' and 'password_env', or neither")
        return self


def email_message(
    notification: Notification, sender: str, to: tuple[str, ...], prefix: str
) -> EmailMessage:
    """The e-mail for ``notification``: the summary as subject, then the details."""
    verb = VERBS.get(notification.kind, notification.kind)
    severity = notification.details.get("severity")
    tag = f"{verb} ({severity})" if severity and notification.kind == "alert.firing" else verb
    summary = " ".join(notification.summary.split())  # one line: no header injection
    message = EmailMessage()
    message["Subject"] = f"{prefix} {tag}: {summary}"[:SUBJECT_LIMIT]
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(notification.time.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(notification.id, domain="conveyor")
    message["X-Conveyor-Event"] = notification.kind
    message["X-Conveyor-Event-Id"] = notification.id
    message["X-Conveyor-Dedup-Key"] = notification.dedup_key
    lines = [notification.summary, ""]
    lines += [f"{key}: {value}" for key, value in notification.details.items()]
    lines += [
        "",
        f"event: {notification.kind}",
        f"model: {notification.model} version {notification.version}",
        f"time: {notification.time:%Y-%m-%d %H:%M:%S} UTC",
        f"dedup key: {notification.dedup_key}",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


@register_notifier
class EmailNotifier:
    """One SMTP session per notification: connect, (STARTTLS), (login), send, quit."""

    key: ClassVar[str] = "email"
    config_model: ClassVar[type[TargetConfig]] = EmailTarget

    def __init__(
        self,
        config: EmailTarget,
        *,
        name: str,
        password: str | None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._password = password
        self._tls = tls or ssl.create_default_context()
        shown = f"[{config.host}]" if ":" in config.host else config.host
        self.endpoint = Endpoint(
            "smtp", config.host, config.port, "", f"{name} (smtp://{shown}:{config.port})"
        )

    @classmethod
    def from_config(
        cls, config: TargetConfig, *, name: str, environ: Mapping[str, str]
    ) -> EmailNotifier:
        assert isinstance(config, EmailTarget)
        password = None
        if config.password_env:
            password = secret_from_env(environ, config.password_env, name, "password_env")
        try:
            tls = ssl.create_default_context(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{name}: cannot read ca_file {config.ca_file!r}: {exc}",
                hint="give a readable file of PEM certificates",
            ) from exc
        notifier = cls(config, name=name, password=password, tls=tls)
        # refuse a forbidden host at startup; a name that does not resolve yet waits
        with contextlib.suppress(OSError):
            resolve_allowed(notifier.endpoint, allow_private=config.allow_private)
        return notifier

    def send(self, notification: Notification) -> None:
        config = self.config
        message = email_message(notification, config.sender, config.to, config.subject_prefix)
        try:
            addresses = resolve_allowed(self.endpoint, allow_private=config.allow_private)
        except ConfigError as exc:
            raise DeliveryFailed(exc.message, retryable=False) from exc
        except OSError as exc:
            raise DeliveryFailed(
                f"{self.endpoint.where}: cannot resolve: {exc}", retryable=True
            ) from exc
        try:
            with self._session(addresses) as smtp:
                if config.starttls:
                    smtp.starttls(context=self._tls)
                if config.username is not None and self._password is not None:
                    smtp.login(config.username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise self._failed(
                f"answered {exc.smtp_code} {text}", 400 <= exc.smtp_code < 500
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            temporary = all(400 <= code < 500 for code in codes)
            raise self._failed(
                f"refused the recipients ({', '.join(map(str, codes))})", temporary
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise self._failed(
                f"{exc} (set starttls: false for a server without it)", False
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS
            raise self._failed(f"{type(exc).__name__}: {exc}", True) from exc

    def _session(self, addresses: list[IPAddress]) -> smtplib.SMTP:
        """A connected session to the first address that accepts one."""
        config = self.config
        local = socket.gethostname() or "localhost"
        last: OSError | None = None
        for address in addresses:
            smtp: smtplib.SMTP
            if config.ssl:
                smtp = _PinnedSMTPS(config.host, str(address), local, config.timeout_s, self._tls)
            else:
                smtp = _PinnedSMTP(config.host, str(address), local, config.timeout_s)
            try:
                smtp.connect(config.host, config.port)
                return smtp
            except OSError as exc:
                smtp.close()
                last = exc
        assert last is not None
        raise last

    def _failed(self, what: str, retryable: bool) -> DeliveryFailed:
        if self._password:  # a server never echoes it; make sure it cannot reach a log
            what = what.replace(self._password, "***")
        return DeliveryFailed(f"{self.endpoint.where}: {what}", retryable=retryable)

    def __repr__(self) -> str:  # never the password
        return f"<EmailNotifier {self.endpoint.where}>"


class _PinnedSMTP(smtplib.SMTP):
    """An SMTP session to ``address``, whatever ``host`` resolves to now; STARTTLS checks
    the certificate against ``host``."""

    def __init__(self, host: str, address: str, local: str, timeout: float) -> None:
        super().__init__(local_hostname=local, timeout=timeout)
        self._host = host  # what starttls() names to the server (SNI) and checks
        self.address = address

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self.address, port), timeout)


class _PinnedSMTPS(smtplib.SMTP_SSL):
    """An SMTPS session to ``address``, the certificate checked against the host's name."""

    def __init__(
        self, host: str, address: str, local: str, timeout: float, tls: ssl.SSLContext
    ) -> None:
        super().__init__(local_hostname=local, timeout=timeout, context=tls)
        self._host = host
        self.address = address
        self.tls = tls

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((self.address, port), timeout)
        try:
            return self.tls.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
