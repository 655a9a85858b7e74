"""reinfer_nb: Jupyter magics, a Python client and a local sandbox for the Re:infer /
UiPath Communications Mining API.

``%load_ext reinfer_nb`` registers the magics. The plain Python API (``Client``,
``to_frame``, ``TimingLog``...) is imported lazily, so ``import reinfer_nb`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "ApiError": "errors",
    "Client": "client",
    "ConfigError": "errors",
    "Endpoint": "endpoints",
    "FetchInterrupted": "errors",
    "LoginError": "errors",
    "NetworkError": "errors",
    "Pages": "results",
    "PaginationError": "errors",
    "ReinferError": "errors",
    "Result": "results",
    "RetryPolicy": "retry",
    "SavedPull": "saving",
    "ServerTimingMetric": "timing",
    "TimingLog": "timing",
    "TimingRecord": "timing",
    "Token": "credentials",
    "duck": "saving",
    "error_frame": "frames",
    "label_counts": "labels",
    "load_contexts": "credentials",
    "pages_to_frame": "frames",
    "parse_server_timing": "timing",
    "resolve_login": "login",
    "resolve_token": "credentials",
    "start_sandbox": "sandbox",
    "to_frame": "frames",
    "to_label_matrix": "labels",
}

__all__ = [
    "ApiError",
    "Client",
    "ConfigError",
    "Endpoint",
    "FetchInterrupted",
    "LoginError",
    "NetworkError",
    "Pages",
    "PaginationError",
    "ReinferError",
    "Result",
    "RetryPolicy",
    "SavedPull",
    "ServerTimingMetric",
    "TimingLog",
    "TimingRecord",
    "Token",
    "__version__",
    "duck",
    "error_frame",
    "label_counts",
    "load_contexts",
    "load_ipython_extension",
    "pages_to_frame",
    "parse_server_timing",
    "resolve_login",
    "resolve_token",
    "start_sandbox",
    "to_frame",
    "to_label_matrix",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from .client import Client
    from .credentials import Token, load_contexts, resolve_token
    from .endpoints import Endpoint
    from .errors import (
        ApiError,
        ConfigError,
        FetchInterrupted,
        LoginError,
        NetworkError,
        PaginationError,
        ReinferError,
    )
    from .frames import error_frame, pages_to_frame, to_frame
    from .labels import label_counts, to_label_matrix
    from .login import resolve_login
    from .results import Pages, Result
    from .retry import RetryPolicy
    from .sandbox import start_sandbox
    from .saving import SavedPull, duck
    from .timing import ServerTimingMetric, TimingLog, TimingRecord, parse_server_timing


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reinfer_nb' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext reinfer_nb``: register the magics with the shell."""
    from .magics import load_extension

    load_extension(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext reinfer_nb``: unregister the magics and stop what they started."""
    from .magics import unload_extension

    unload_extension(ipython)
