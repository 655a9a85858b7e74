"""Start JupyterLab on the tutorials and say, in one banner, how to use it: ``make lab``.

``python -m reinfer_nb.lab`` starts ``jupyter lab`` on ``notebooks/`` (loopback only, no
browser), waits until it answers, then prints one banner: what is running, the URL that
opens ``01_getting_started.ipynb`` directly (with its access token), which data the
tutorials will use (the embedded sandbox unless ``REINFER_ENDPOINT`` and ``REINFER_TOKEN``
are set or a context is current: the tutorials' rule, :func:`reinfer_nb.login.tutorial_choice`)
and how to stop it. Jupyter's own log is kept to warnings and errors, so the banner is the
last thing on the screen. Ctrl-C stops JupyterLab and its kernels (and their sandboxes).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from .login import tutorial_choice

__all__ = ["banner", "main"]

FIRST_NOTEBOOK = "01_getting_started.ipynb"
READY_SECONDS = 120
STOP_SECONDS = 30
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def banner(url: str, notebook_dir: str, mode: str, why: str) -> str:
    """The lines printed once JupyterLab answers."""
    data = (
        "the embedded sandbox (sample data on this machine, no account needed)"
        if mode == "sandbox" else "your tenant"
    )
    lines = [
        f"JupyterLab is running on the reinfer_nb tutorials in {notebook_dir}",
        "",
        f"  Open:  {url}",
        *textwrap.wrap(f"{data}, because {why}.", 80, initial_indent="  Data:  ",
                       subsequent_indent="         "),
        "  Stop:  Ctrl-C in this terminal (the kernels and their sandboxes stop too).",
    ]
    rule = "=" * 88
    return "\n".join([rule, *lines, rule])


def _free_port(wanted: int, tries: int = 20) -> int:
    """``wanted`` if nothing listens there, else the next free port after it."""
    for port in range(wanted, wanted + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"Ports {wanted} to {wanted + tries - 1} are all in use: "
                     "make lab LAB_PORT=<another port>.")


def _ready(port: int, token: str, process: subprocess.Popen[bytes]) -> bool:
    """Wait until JupyterLab answers /api/status (False if it exits or takes too long)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with _NO_PROXY.open(request, timeout=2) as answer:
                json.loads(answer.read())
            return True
        except (OSError, ValueError):
            time.sleep(0.25)
    return False


def _stop(process: subprocess.Popen[bytes]) -> int:
    """Let JupyterLab shut its kernels down; end it if it does not within a while."""
    try:
        return process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            return process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reinfer_nb.lab",
        description="Start JupyterLab on the tutorials (127.0.0.1, no browser) and print "
        "the URL that opens the first one.",
    )
    parser.add_argument("--port", type=int, default=8888,
                        help="Port (the next free one if it is taken; default 8888).")
    parser.add_argument("--notebook-dir", default="notebooks",
                        help="The folder JupyterLab serves (default: notebooks).")
    parser.add_argument("--notebook", default=FIRST_NOTEBOOK,
                        help=f"The notebook the URL opens (default {FIRST_NOTEBOOK}).")
    args, jupyter_args = parser.parse_known_args(argv)

    folder = Path(args.notebook_dir).resolve()
    if not (folder / args.notebook).is_file():
        print(f"No {args.notebook} in {folder}: run make lab from the repository's root.",
              file=sys.stderr)
        return 2
    port = _free_port(args.port)
    # Our own token, passed in the environment (not on the command line, where other
    # users' `ps` would see it), so that the banner can print the whole URL.
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    path = f"/lab/tree/{quote(args.notebook)}"
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", "--no-browser",
        f"--ServerApp.root_dir={folder}", f"--ServerApp.default_url={path}",
        f"--LabApp.default_url={path}",
        "--ServerApp.log_level=WARN", "--LabApp.log_level=WARN", *jupyter_args,
    ]
    print(f"Starting JupyterLab on {folder.name}/ at http://127.0.0.1:{port} …", flush=True)
    # stdin is not a terminal, so Jupyter stops on the first Ctrl-C instead of asking.
    process = subprocess.Popen(
        command, cwd=folder, env={**os.environ, "JUPYTER_TOKEN": token},
        stdin=subprocess.DEVNULL,
    )
    try:
        if not _ready(port, token, process):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            code = _stop(process)
            print(f"JupyterLab did not start (exit status {code}): see its messages above.",
                  file=sys.stderr)
            return 1
        mode, why = tutorial_choice()
        url = f"http://127.0.0.1:{port}{path}?token={token}"
        print("\n" + banner(url, f"{folder.name}/", mode, why) + "\n", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        # The terminal sent Ctrl-C to JupyterLab as well: wait while it stops its kernels.
        print("\nStopping JupyterLab…", flush=True)
        _stop(process)
        print("JupyterLab stopped.", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
