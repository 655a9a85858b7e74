"""A local emulator of a subset of the Re:infer / UiPath Communications Mining API.

It serves sample data (deterministic from a seed, any size) over real HTTP/1.1 with
keep-alive, bearer tokens, per-project permissions, the platform's error bodies and
``Server-Timing``, and injectable faults. It is a sandbox, not a tenant::

    from reinfer_nb.sandbox import start_sandbox

    with start_sandbox(comments=5000) as sandbox:
        requests.get(sandbox.url + "/api/v1/sources",
                     headers={"Authorization": f"Bearer {sandbox.token}"})

``python -m reinfer_nb.sandbox`` runs one in the foreground.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from ..credentials import mask_token
from .api.router import MAX_BODY
from .app import build_app
from .data.store import Store
from .http.faults import KINDS, Fault, FaultSet
from .http.server import Gateway, connectable_host
from .http.stats import Stats

__all__ = ["KINDS", "Fault", "Sandbox", "mask_token", "start_sandbox"]


def start_sandbox(
    comments: int = 1000,
    seed: int = 0,
    token: str | None = None,
    faults: Iterable[Mapping[str, Any] | Fault] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    server_ms: float = 0.0,
) -> Sandbox:
    """Start a sandbox in a background thread and return it (also a context manager).

    ``comments`` is the total over all sources; ``token`` is the demo user's token
    (random if None); ``faults`` are specs as for :meth:`Sandbox.inject`; ``port=0``
    picks a free port. It listens on loopback unless ``host`` says otherwise.
    ``server_ms`` adds that much server time (a sleep, no CPU) to every API call, as a
    platform taking 100-500 ms per page would; it counts in ``Server-Timing``.
    """
    return Sandbox(
        comments=comments,
        seed=seed,
        token=token,
        faults=faults,
        host=host,
        port=port,
        server_ms=server_ms,
    )


def _new_token() -> str:
    return "sbx_" + secrets.token_hex(16)


class Sandbox:
    """A running sandbox: :attr:`url` (the tenant root), :attr:`token`, :attr:`admin_token`.

    ``token`` belongs to user ``demo`` (read and write in project ``dev``, read-only in
    ``prod``, nothing in ``restricted``); ``admin_token`` to ``admin`` (everything).
    """

    def __init__(
        self,
        *,
        comments: int = 1000,
        seed: int = 0,
        token: str | None = None,
        faults: Iterable[Mapping[str, Any] | Fault] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        server_ms: float = 0.0,
    ) -> None:
        if isinstance(comments, bool) or not isinstance(comments, int) or comments < 0:
            raise ValueError(f"comments must be a whole number >= 0, not {comments!r}")
        if (
            isinstance(server_ms, bool)
            or not isinstance(server_ms, (int, float))
            or not 0 <= server_ms <= 600_000
        ):
            raise ValueError(f"server_ms must be a number from 0 to 600000, not {server_ms!r}")
        if token is not None and not (
            isinstance(token, str)
            and token
            and token.isascii()
            and token.isprintable()
            and " " not in token
        ):
            raise ValueError("token must be a non-empty string of printable ASCII without spaces")
        self.comments = comments
        self.seed = seed
        self.server_ms = float(server_ms)
        self.token = token or _new_token()
        self.admin_token = _new_token()
        self._stats = Stats()
        self._faults = FaultSet(seed)
        for spec in faults or ():
            self._faults.add(spec if isinstance(spec, Fault) else Fault.from_spec(spec))
        store = Store(seed, comments)
        app = build_app(
            store,
            {self.token: "demo", self.admin_token: "admin"},
            self._faults,
            self._stats,
            server_ms=self.server_ms,
        )
        self._server = Gateway(
            app,
            host,
            port,
            max_body=MAX_BODY,
            on_connection=self._stats.connection_opened,
            on_close=self._stats.connection_closed,
        )
        self.host = host
        self.port = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"reinfer-sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The tenant root, e.g. ``http://127.0.0.1:8000``; append ``/api/...`` or ``/auth/...``.

        A client on this machine can connect to it: listening on every interface
        (``0.0.0.0``, ``::``), the URL names loopback.
        """
        host = connectable_host(self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent).

        Waits in progress (faults, ``server_ms``) end at once; it then gives the
        connection threads up to 5 s in all to finish.
        """
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.close_connections()
        self._server.join_connections(timeout=5.0)
        self._server.server_close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the sandbox stops or ``timeout`` passes; True if it stopped."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- faults ------------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int | None = None,
        probability: float | None = None,
        skip: int = 0,
        status: int | None = None,
        retry_after: int | None = None,
        delay_ms: float | None = None,
        interval_ms: float | None = None,
    ) -> Fault:
        """Add a fault (see :mod:`.http.faults` for the kinds); returns it, with live counters."""
        return self._faults.add(
            Fault(
                kind,
                path=path,
                method=method,
                times=times,
                probability=probability,
                skip=skip,
                status=status,
                retry_after=retry_after,
                delay_ms=delay_ms,
                interval_ms=interval_ms,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return self._faults.list()

    # -- statistics --------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """``connections_opened``, ``connections_open`` (now), ``calls``, ``calls_by_path``
        ("GET /api/v1/sources": n), ``calls_by_status``, ``faults_fired`` and
        ``faults_fired_by_kind``."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    # -- protocol ----------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<Sandbox {self.url} comments={self.comments} seed={self.seed} "
            f"{f'server_ms={self.server_ms:g} ' if self.server_ms else ''}"
            f"token={mask_token(self.token)} {state}>"
        )
