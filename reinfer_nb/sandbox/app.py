"""The sandbox's WSGI application: the HTTP layer wrapped around the API layer.

:func:`build_app` stacks the layers, outermost first::

    Timed            Server-Timing on every answer; call statistics
      /_sandbox/...  fault and statistics control (token required, never faulted)
      FaultMiddleware  the fixed server time, then faults
        Api          bearer auth, routing (404/405), handlers, error bodies
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .api.control import control_routes
from .api.router import API_ROUTES, Api
from .data.store import Store
from .http.faults import FaultMiddleware, FaultSet
from .http.server import WSGIApp
from .http.stats import Stats
from .http.wsgi import path_of

__all__ = ["Timed", "build_app"]


class Timed:
    """Adds ``Server-Timing: total;dur=<ms>`` (time until the answer starts) and counts calls."""

    def __init__(self, app: WSGIApp, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        method, path = environ["REQUEST_METHOD"], path_of(environ)

        def timed(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            elapsed = (time.perf_counter() - started) * 1000
            if not path.startswith("/_sandbox/"):
                self.stats.call(method, path, int(status[:3]))
            return start_response(
                status, [*headers, ("Server-Timing", f"total;dur={elapsed:.2f}")], exc_info
            )

        return self.app(environ, timed)


def build_app(
    store: Store,
    tokens: dict[str, str],
    faults: FaultSet,
    stats: Stats,
    *,
    server_ms: float = 0.0,
) -> WSGIApp:
    """The sandbox's WSGI application (see the module docstring for the layers).

    ``server_ms`` is added to every API call (not to ``/_sandbox/`` control calls).
    """
    api = FaultMiddleware(Api(store, tokens, API_ROUTES), faults, stats, server_ms)
    control = Api(store, tokens, control_routes(faults, stats))

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = control if path_of(environ).startswith("/_sandbox/") else api
        return target(environ, start_response)

    return Timed(dispatch, stats)
