"""The names of a tenant's projects, sources and datasets, for completion.

Fetched in the background once per login (three cheap listings), kept, and fetched again
after :meth:`LiveNames.invalidate` (a write). A reader never waits longer than it asks
to: on a slow or failing tenant it gets None (or the names fetched before) and completes
from the spec alone. The calls go through a client of their own, so they stay out of the
user's timing log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ApiError

if TYPE_CHECKING:
    from .client import Client
    from .login import Login

__all__ = ["LiveNames", "TenantNames", "fetch_names"]

_FETCH_TIMEOUT = 5.0  # seconds per listing; the completer never waits for it


@dataclass(frozen=True)
class TenantNames:
    """Project names, and source and dataset names (and ids) by project."""

    projects: tuple[str, ...] = ()
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    datasets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source_ids: tuple[str, ...] = ()
    dataset_ids: tuple[str, ...] = ()

    def values(
        self, parameter: str, previous: str, filled: Mapping[str, str]
    ) -> Sequence[str] | None:
        """The live values of a path parameter (``owner`` -> the projects), or None.

        ``previous`` is the literal segment before it (``projects`` for ``{name}``);
        ``filled`` holds the parameters already typed (``owner`` for ``{source_name}``).
        """
        if parameter in ("owner", "project") or (parameter == "name" and previous == "projects"):
            return self.projects
        owner = filled.get("owner", "")
        if parameter == "source_name":
            return self.sources.get(owner)
        if parameter == "dataset_name":
            return self.datasets.get(owner)
        if parameter in ("source_id", "raw_source_id"):
            return self.source_ids
        if parameter == "dataset_id":
            return self.dataset_ids
        return None


def fetch_names(client: Client) -> TenantNames:
    """List the projects, sources and datasets the client's user can see.

    A listing the user may not read is skipped; a network failure raises at once.
    """
    answers: dict[str, list[dict[str, Any]]] = {}
    for key, path in (("projects", "/api/v1/projects"), ("sources", "/api/v1/sources"),
                      ("datasets", "/api/v1/datasets")):
        try:
            items = client.get(path).data.get(key)
        except ApiError:
            continue  # e.g. 403: complete what the user may see
        answers[key] = [item for item in items or () if isinstance(item, dict)]

    def by_owner(items: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
        grouped: dict[str, list[str]] = {}
        for item in items:
            grouped.setdefault(str(item.get("owner", "")), []).append(str(item.get("name", "")))
        return {owner: tuple(sorted(names)) for owner, names in grouped.items()}

    sources, datasets = answers.get("sources", []), answers.get("datasets", [])
    projects = {str(p.get("name", "")) for p in answers.get("projects", [])}
    projects |= {str(item.get("owner", "")) for item in (*sources, *datasets)}
    return TenantNames(
        projects=tuple(sorted(p for p in projects if p)),
        sources=by_owner(sources),
        datasets=by_owner(datasets),
        source_ids=tuple(str(s["id"]) for s in sources if s.get("id")),
        dataset_ids=tuple(str(d["id"]) for d in datasets if d.get("id")),
    )


class LiveNames:
    """:class:`TenantNames` fetched in a background thread, on first use.

    ``fetch`` returns the names (it may be slow, or fail); ``retry_after`` is how long a
    failure is remembered before a later :meth:`get` tries again.
    """

    def __init__(self, fetch: Callable[[], TenantNames], *, retry_after: float = 30.0) -> None:
        self._fetch = fetch
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._names: TenantNames | None = None
        self._stale = True
        self._running = False
        self._failed_at: float | None = None
        self.error: BaseException | None = None

    @classmethod
    def for_login(cls, login: Login) -> LiveNames:
        """Names fetched through a client of ``login`` of their own (short timeout, no
        retries, its own timing log)."""
        from .retry import RetryPolicy

        def fetch() -> TenantNames:
            policy = RetryPolicy(timeout=_FETCH_TIMEOUT, retries=0)
            with login.client(policy=policy) as client:
                return fetch_names(client)

        return cls(fetch)

    def get(self, wait: float = 0.0) -> TenantNames | None:
        """The names known now (None before the first fetch ends). Starts a fetch when
        none has run, or after :meth:`invalidate`; waits at most ``wait`` seconds for a
        fetch this call started."""
        done = self._start()
        if done is not None and wait > 0:
            done.wait(wait)
        with self._lock:
            return self._names

    def invalidate(self) -> None:
        """Fetch again on the next :meth:`get` (after a write); the old names stay until."""
        with self._lock:
            self._stale = True
            self._failed_at = None

    @property
    def loading(self) -> bool:
        with self._lock:
            return self._running

    def _start(self) -> threading.Event | None:
        with self._lock:
            if self._running or not self._stale:
                return None
            if self._failed_at is not None and (
                time.monotonic() - self._failed_at < self.retry_after
            ):
                return None
            self._running, self._stale = True, False
        done = threading.Event()
        threading.Thread(target=self._run, args=(done,), name="reinfer-names",
                         daemon=True).start()
        return done

    def _run(self, done: threading.Event) -> None:
        try:
            names = self._fetch()
        except Exception as exc:  # a failing tenant: complete from the spec alone
            with self._lock:
                self.error, self._failed_at, self._stale = exc, time.monotonic(), True
        else:
            with self._lock:
                self._names, self.error, self._failed_at = names, None, None
        finally:
            with self._lock:
                self._running = False
            done.set()
