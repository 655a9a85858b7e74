"""Helpers for tests that drive the magics in a real IPython shell."""

from __future__ import annotations

import os
from typing import Any

from IPython.utils.capture import CapturedIO, capture_output


def login(shell: Any, sandbox: Any) -> None:
    """Log a shell in to the session sandbox through the environment, like a user."""
    os.environ["REINFER_ENDPOINT"] = sandbox.url
    os.environ["REINFER_TOKEN"] = sandbox.token
    try:
        shell.run_line_magic("reinfer_login", "--no-prompt")
    finally:
        del os.environ["REINFER_ENDPOINT"], os.environ["REINFER_TOKEN"]


def magics(shell: Any) -> Any:
    """The shell's ReinferMagics instance."""
    return shell.magics_manager.registry["ReinferMagics"]


def run(shell: Any, cell: str) -> tuple[Any, CapturedIO]:
    """Run a cell as a notebook would; return (ExecutionResult, captured output)."""
    with capture_output() as captured:
        result = shell.run_cell(cell, store_history=True)
    return result, captured
