"""``python -m reinfer_nb.sandbox`` as a user runs it: prints the URL and token, serves,
and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from reinfer_nb.sandbox import start_sandbox
from reinfer_nb.sandbox.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def read_lines(proc: subprocess.Popen[str], into: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        into.put(line)


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_run_call_and_interrupt() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    token = "sbx_" + "c" * 32
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reinfer_nb.sandbox",
            "--port",
            "0",
            "--comments",
            "50",
            "--seed",
            "4",
            "--token",
            token,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(proc, lines), daemon=True).start()
    try:
        printed: dict[str, str] = {}
        while "admin_token" not in printed:
            line = lines.get(timeout=30)
            key, sep, value = line.partition(": ")
            if sep and key in ("url", "token", "admin_token"):
                printed[key] = value.strip()
        assert printed["token"] == token and printed["url"].startswith("http://127.0.0.1:")
        answer = requests.get(
            printed["url"] + "/auth/user", timeout=10, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.json()["user"]["username"] == "demo"
        sources = requests.get(
            printed["url"] + "/api/v1/sources",
            timeout=10,
            headers={"Authorization": f"Bearer {printed['admin_token']}"},
        )
        assert len(sources.json()["sources"]) == 5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert "Stopping." in "".join(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_port_in_use_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with start_sandbox(comments=0) as busy:
        assert main(["--port", str(busy.port), "--comments", "0"]) == 1
    assert "cannot start the sandbox" in capsys.readouterr().err


def test_bad_arguments_exit_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--comments", "-1"])
    assert exit_info.value.code == 2 and "--comments" in capsys.readouterr().err
