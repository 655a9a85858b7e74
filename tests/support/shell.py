"""Helpers for tests that drive the magics in a real IPython shell."""

from __future__ import annotations

import os
from typing import Any


def login(shell: Any, sandbox: Any) -> None:
    """Log a shell in to the session sandbox through the environment, like a user."""
    os.environ["REINFER_ENDPOINT"] = sandbox.url
    os.environ["REINFER_TOKEN"] = sandbox.token
    try:
        shell.run_line_magic("reinfer_login", "--no-prompt")
    finally:
        del os.environ["REINFER_ENDPOINT"], os.environ["REINFER_TOKEN"]
