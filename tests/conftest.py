"""Shared fixtures: a clean environment, the sandbox on loopback, a real IPython shell."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# IPython shells and kernels started by the tests keep their history in a throwaway
# profile, never in the user's ~/.ipython.
os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="reinfer-nb-ipython-")

_SCRUBBED = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No REINFER_* settings, proxies or user contexts leak into a test."""
    for name in list(os.environ):
        if name.startswith("REINFER_") or name.upper() in _SCRUBBED:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REINFER_CONTEXTS_FILE", str(tmp_path / "contexts.json"))


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger the client stack uses at DEBUG for one test; their levels restored."""
    names = ("", "urllib3", "requests", "reinfer_nb", "http.client")
    saved = {name: logging.getLogger(name).level for name in names}
    caplog.set_level(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="session")
def make_sandbox() -> Iterator[Callable[..., Any]]:
    """The one way tests start a sandbox: ``make_sandbox(comments=, seed=, **options)``.

    Each call starts a new sandbox on 127.0.0.1 (options as for ``start_sandbox``); every
    sandbox started is stopped at the end of the session (or earlier with ``.stop()``).
    """
    from reinfer_nb.sandbox import start_sandbox

    started: list[Any] = []

    def make(comments: int = 2000, seed: int = 7, **options: Any) -> Any:
        sandbox = start_sandbox(comments=comments, seed=seed, **options)
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="session")
def sandbox(make_sandbox: Callable[..., Any]) -> Any:
    """One sandbox for the session (2,000 comments, seed 7); tests clear their faults."""
    return make_sandbox(comments=2000, seed=7)


@pytest.fixture
def sb(sandbox: Any) -> Iterator[Any]:
    """The session sandbox with no faults before and after the test."""
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def client(sb: Any) -> Iterator[Any]:
    from reinfer_nb.client import Client

    with Client(sb.url, sb.token, backoff=0.01, timeout=5) as c:
        yield c


@pytest.fixture
def ip(sb: Any) -> Iterator[Any]:
    """A real IPython shell with the extension loaded; unloaded afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "reinfer_nb")
    magics = shell.magics_manager.registry["ReinferMagics"]
    magics.progress = False
    yield shell
    shell.run_line_magic("unload_ext", "reinfer_nb")
    shell.config.pop("ReinferMagics", None)
    shell.reset(new_session=False)
    shell.history_manager.output_hist.clear()
