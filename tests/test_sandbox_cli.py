"""``python -m reinfer_nb.sandbox`` as a user and a program run it: a JSON ready line first,
the server time option, a warning off loopback, and a clean stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from reinfer_nb.sandbox import start_sandbox
from reinfer_nb.sandbox.__main__ import main, parse_args, reachability_warning, ready_line
from reinfer_nb.sandbox.http.server import connectable_host

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ready_line_call_and_interrupt() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    token = "sbx_" + "c" * 32
    args = ["--port", "0", "--comments", "50", "--seed", "4", "--token", token]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reinfer_nb.sandbox", *args, "--server-ms", "150"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    try:
        ready = json.loads(proc.stdout.readline())  # the first line, nothing to scrape
        assert set(ready) == {
            "url", "token", "admin_token", "host", "port", "comments", "seed", "server_ms"
        }
        assert ready["token"] == token and ready["url"] == f"http://127.0.0.1:{ready['port']}"
        assert (ready["comments"], ready["seed"], ready["server_ms"]) == (50, 4, 150)
        answer = requests.get(
            ready["url"] + "/auth/user", timeout=10, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.json()["user"]["username"] == "demo"
        timing = re.fullmatch(r"total;dur=(\d+(?:\.\d+)?)", answer.headers["Server-Timing"])
        assert timing and float(timing.group(1)) >= 150  # --server-ms is server time
        sources = requests.get(
            ready["url"] + "/api/v1/sources",
            timeout=10,
            headers={"Authorization": f"Bearer {ready['admin_token']}"},
        )
        assert len(sources.json()["sources"]) == 5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == ""  # stdout holds the ready line only
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert "Stopping." in "".join(stderr) and "warning" not in "".join(stderr)


def test_ready_line_of_a_sandbox_in_process(make_sandbox: Callable[..., Any]) -> None:
    with make_sandbox(comments=3, seed=9, token="sbx_" + "d" * 32, server_ms=5) as sb:
        line = ready_line(sb)
    assert "\n" not in line
    assert json.loads(line) == {
        "url": sb.url,
        "token": sb.token,
        "admin_token": sb.admin_token,
        "host": "127.0.0.1",
        "port": sb.port,
        "comments": 3,
        "seed": 9,
        "server_ms": 5.0,
    }


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "sandbox.example"])
def test_a_host_off_loopback_gets_a_warning(host: str) -> None:
    warning = reachability_warning(host)
    assert warning and "reachable from the network" in warning and "127.0.0.1" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts_get_no_warning(host: str) -> None:
    assert reachability_warning(host) is None


@pytest.mark.parametrize(
    ("host", "url_host"),
    [("0.0.0.0", "127.0.0.1"), ("::", "::1"), ("127.0.0.1", "127.0.0.1"),
     ("192.0.2.10", "192.0.2.10")],
)
def test_the_url_names_a_connectable_host(host: str, url_host: str) -> None:
    assert connectable_host(host) == url_host


def test_latency_ms_is_an_alias_of_server_ms() -> None:
    assert parse_args(["--latency-ms", "7"]).server_ms == 7
    assert parse_args(["--server-ms", "250"]).server_ms == 250
    assert parse_args([]).server_ms == 0


def test_port_in_use_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with start_sandbox(comments=0) as busy:
        assert main(["--port", str(busy.port), "--comments", "0"]) == 1
    assert "cannot start the sandbox" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["--comments", "-1"], ["--server-ms", "-1"], ["--fault-rate", "2"]]
)
def test_bad_arguments_exit_with_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and argv[0] in capsys.readouterr().err
