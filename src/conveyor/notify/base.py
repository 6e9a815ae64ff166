"""The :class:`Notifier` interface and the registry of kinds, by their ``notify:`` key.

A kind is a class with a ``key`` (its key in ``notify:``), a ``config_model`` (the
:class:`~conveyor.notify.config.TargetConfig` subclass its entry is validated by) and a
``from_config`` constructor; :func:`register_notifier` puts it in :data:`NOTIFIERS`. Its
``send`` makes ONE attempt and raises :class:`~conveyor.errors.DeliveryFailed` (re-exported
here) saying whether another is worth making; retries, backoff and the background thread
are the dispatcher's (``dispatch.py``), the same for every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

from conveyor.errors import ConfigError, DeliveryFailed

if TYPE_CHECKING:
    from conveyor.notify.config import NotifyConfig, TargetConfig
    from conveyor.notify.events import Notification

__all__ = [
    "NOTIFIERS",
    "DeliveryFailed",
    "Notifier",
    "NotifierKind",
    "build_notifiers",
    "register_notifier",
    "secret_from_env",
]


class Notifier(Protocol):
    """Something that delivers a :class:`Notification` to one target."""

    name: str  # the target as logs name it: kind, position and host, never a secret
    config: TargetConfig

    def send(self, notification: Notification) -> None:
        """One attempt; :class:`DeliveryFailed` when it did not arrive."""
        ...


class NotifierKind(Protocol):
    key: ClassVar[str]
    config_model: ClassVar[type[TargetConfig]]

    def from_config(
        self, config: TargetConfig, *, name: str, environ: Mapping[str, str]
    ) -> Notifier: ...


NOTIFIERS: dict[str, NotifierKind] = {}

K = TypeVar("K")


def register_notifier(kind: K) -> K:
    """Class decorator: build ``kind`` for its ``- <key>: {...}`` entries of ``notify:``.

    Example (a module beside ``webhook.py``, imported by ``conveyor/notify/__init__.py``)::

        @register_notifier
        class EmailNotifier:
            key = "email"
            config_model = EmailTarget
            @classmethod
            def from_config(cls, config, *, name, environ): ...
            def send(self, notification): ...
    """
    key: str = kind.key  # type: ignore[attr-defined]
    if key in NOTIFIERS and NOTIFIERS[key] is not kind:
        raise ValueError(f"a notifier kind is already registered for notify: {key}")
    NOTIFIERS[key] = kind  # type: ignore[assignment]
    return kind


def build_notifiers(config: NotifyConfig, environ: Mapping[str, str]) -> list[Notifier]:
    """One notifier per target, secrets read from ``environ`` (``settings.environment()``).

    Raises :class:`ConfigError` for a secret variable that is not set or a target that the
    SSRF rules refuse (``targets.py``).
    """
    notifiers = []
    for index, target in enumerate(config.targets):
        # Each kind has its own model class, so the model's type says the kind.
        kind = next(k for k in NOTIFIERS.values() if type(target) is k.config_model)
        name = f"notify[{index}] {kind.key}"
        notifiers.append(kind.from_config(target, name=name, environ=environ))
    return notifiers


def secret_from_env(environ: Mapping[str, str], variable: str, where: str, field: str) -> str:
    """The value of ``variable``, or :class:`ConfigError` naming the target and field."""
    value = environ.get(variable)
    if not value:
        raise ConfigError(
            f"{where}: {field} names the environment variable {variable!r}, which is not set",
            hint=f"export {variable}=... in the environment of conveyor serve",
        )
    return value
