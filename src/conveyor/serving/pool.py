"""The model versions a gateway serves, loaded once and kept in memory.

Keys are ``(model name, version)``. Loading goes through the registry and the verified
artifact store (:func:`conveyor.loading.load_resolved`), so flavors that would unpickle code
refuse unless the pool was made with ``trusted=True``::

    pool = ModelPool()
    ctx = Context.resolve()
    pool.load(Registry(ctx), ctx, "churn", 3)
    pool.get("churn", 3).model.predict(frame)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from conveyor.errors import InvalidValue
from conveyor.ids import utcnow
from conveyor.serving.errors import RequestError
from conveyor.serving.inputs import Layout

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.flavors.base import Trust
    from conveyor.modelpack import LoadedModel
    from conveyor.registry import Registry


@dataclass(frozen=True)
class Served:
    """One loaded model version and when and how fast it was loaded.

    ``load_memory_bytes`` is how much this process's resident memory (RSS) grew during the
    load: an approximation. It counts what the allocator kept or reused (it can be less than
    the model's size, even negative, where freed memory was reused), whatever other threads
    allocated meanwhile, and the flavor's libraries if the load was the first to import them.
    """

    name: str
    version: int
    uri: str
    model: LoadedModel = field(repr=False)
    loaded_at: datetime
    load_seconds: float
    load_memory_bytes: int = 0

    @cached_property
    def layout(self) -> Layout:
        """How request inputs become this version's model input, worked out on first use and
        kept with the version, so it goes when the version is unloaded."""
        return Layout.of(self.model.signature)

    @property
    def flavor(self) -> str:
        """The model's flavor (``sklearn``, ``pyfunc``...)."""
        return self.model.info.flavor


class ModelPool:
    """Loaded model versions by name and version; safe to load from several threads."""

    def __init__(self, *, trusted: Trust = False) -> None:
        self.trusted = trusted
        self._served: dict[tuple[str, int], Served] = {}
        self.generation = 0  # counts adds and removes: per-version caches compare it
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def load(self, registry: Registry, ctx: Context, name: str, version: int) -> Served:
        """Load ``models:/NAME/VERSION`` unless it is loaded already; return it.

        Two threads loading the same key wait for one load; other keys load in parallel.
        """
        key = (name, version)
        with self._key_lock(key):
            existing = self._served.get(key)
            if existing is not None:
                return existing
            from conveyor.loading import load_resolved

            uri = f"models:/{name}/{version}"
            started = time.perf_counter()
            resolved = registry.resolve(uri)
            resident = resident_bytes()
            model = load_resolved(resolved, ctx, trusted=self.trusted)
            grew = resident_bytes() - resident
            took = time.perf_counter() - started
            served = Served(name, version, uri, model, utcnow(), took, grew)
            self.add(served)
            return served

    def load_uri(self, registry: Registry, ctx: Context, uri: str) -> Served:
        """Load the registered version a URI names: ``churn@champion``, ``models:/churn/3``."""
        full = uri if uri.startswith(("models:/", "runs:/")) else f"models:/{uri}"
        resolved = registry.resolve(full)
        if resolved.version is None:
            raise InvalidValue(
                f"{uri!r} is not a registered model version; only those can be served",
                hint="register it first: conveyor models register RUN --name NAME",
            )
        return self.load(registry, ctx, resolved.version.name, resolved.version.version)

    def add(self, served: Served) -> None:
        """Serve an already loaded version (replacing one with the same key)."""
        with self._guard:  # a new dict, swapped in whole: readers never see one mid-change
            self._served = {**self._served, (served.name, served.version): served}
            self.generation += 1

    def remove(self, name: str, version: int) -> None:
        """Stop serving a version; requests already holding it finish with it."""
        with self._guard:
            self._served = {k: v for k, v in self._served.items() if k != (name, version)}
            self._locks.pop((name, version), None)
            self.generation += 1

    def get(self, name: str, version: int | None = None) -> Served:
        """The version asked for (the latest loaded one if None); 404 RequestError if absent."""
        served = self._served
        versions = _versions(served, name)
        if not versions:
            raise self._unknown(name)
        found = served.get((name, versions[-1] if version is None else version))
        if found is None:
            raise RequestError(
                404,
                f"model {name!r} has no loaded version {version}; loaded versions: "
                f"{', '.join(map(str, versions))}",
                field="version",
            )
        return found

    def versions(self, name: str) -> list[int]:
        """The loaded versions of ``name``, ascending; 404 RequestError if none is loaded."""
        found = _versions(self._served, name)
        if not found:
            raise self._unknown(name)
        return found

    def names(self) -> list[str]:
        """The names of the models served, sorted."""
        return sorted({name for name, _ in self._served})

    def all(self) -> list[Served]:
        """Every loaded version, by name then version."""
        served = self._served
        return [served[key] for key in sorted(served)]

    def _unknown(self, name: str) -> RequestError:
        names = ", ".join(self.names()) or "none"
        return RequestError(
            404, f"no model named {name!r} is served; served models: {names}", field="model"
        )

    def __len__(self) -> int:
        return len(self._served)

    def _key_lock(self, key: tuple[str, int]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def resident_bytes() -> int:
    """This process's resident memory (RSS) now, in bytes (a read of ``/proc`` on Linux)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def _versions(served: dict[tuple[str, int], Served], name: str) -> list[int]:
    return sorted(version for model, version in served if model == name)


def load_pool(uris: Sequence[str], ctx: Context, *, trusted: Trust = False) -> ModelPool:
    """A pool with every registered version the URIs name, loaded from ``ctx``.

    >>> load_pool(["churn@champion", "models:/churn/4"], Context.resolve())  # doctest: +SKIP
    """
    from conveyor.registry import Registry

    if not uris:
        raise InvalidValue("name at least one model to serve", hint="--model churn@champion")
    pool = ModelPool(trusted=trusted)
    registry = Registry(ctx)
    for uri in uris:
        pool.load_uri(registry, ctx, uri)
    return pool
