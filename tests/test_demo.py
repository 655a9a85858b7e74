"""The headless runner's terminal view (make demo) and the JupyterLab start-up (make lab).

Fast tests check the pieces: choosing a tutorial, prose in short, frames and the timing
table at the terminal's width. Slow ones run ``make demo NB=04`` and ``make lab`` through
a subprocess, as a newcomer would.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import nbformat
import pandas as pd
import pytest

from reinfer_nb.demo import find_notebook, fit_frames, frame_text, render_text
from reinfer_nb.timing import TimingLog, TimingRecord
from reinfer_nb.widgets import render_timing_html

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
PROSE = (
    "This notebook calls the API from Jupyter: log in, list what your token can see, fetch "
    "comments, and read how long each call took. **No account needed.** Unless both "
    "variables are set, `%reinfer_login` starts an embedded sandbox, a small server inside "
    "this notebook's kernel that answers like the real API, with the sample projects, "
    "mailboxes and labels of a fictional retailer. It is a sandbox, not a tenant."
)


# --------------------------------------------------------------------------- pieces


def test_a_tutorial_by_number_name_or_path(tmp_path: Path) -> None:
    assert find_notebook("04") == NOTEBOOKS / "04_analysing_comments.ipynb"
    assert find_notebook("4") == find_notebook("04_analysing") == find_notebook("04")
    assert find_notebook(None).name == "01_getting_started.ipynb"
    own = tmp_path / "mine.ipynb"
    own.write_text("{}")
    assert find_notebook(str(own)) == own
    with pytest.raises(FileNotFoundError, match="matches no tutorial.*01_getting_started"):
        find_notebook("9")
    with pytest.raises(FileNotFoundError, match="No notebook at"):
        find_notebook(str(tmp_path / "missing.ipynb"))


def test_markdown_prose_in_short_at_the_width() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Getting started\n\n{PROSE}\n\n| a | b |\n| - | - |"),
        nbformat.v4.new_markdown_cell("### Using your own tenant\n\nSet [the token](x.md) "
                                      "first.\n\n```bash\nexport X=1\n```\n\nMore text."),
        nbformat.v4.new_markdown_cell("## Next\n\n- [02_dev_and_prod](02_dev_and_prod.ipynb)"),
    ]
    lines = list(render_text(nb, width=60))
    assert lines[1:3] == ["Getting started", "==============="]
    prose = lines[3:lines.index("", 3)]
    assert all(len(line) <= 60 for line in lines)
    text = " ".join(prose)
    assert text.startswith("This notebook calls the API from Jupyter") and text.endswith("…")
    assert "No account needed." in text and "**" not in text and "`" not in text
    assert "| a |" not in "\n".join(lines)  # tables are left to the notebook
    at = lines.index("Using your own tenant")
    assert lines[at + 2] == "Set the token first." and "export X=1" not in lines
    assert "More text." not in lines  # one paragraph per heading: in short
    assert lines[-1] == "- 02_dev_and_prod"


def test_frames_fit_the_width() -> None:
    frame = pd.DataFrame({f"column_{i}": [f"value {i} " * 4] * 40 for i in range(12)})
    with pd.option_context("display.max_rows", 10, "display.min_rows", 6):
        text = frame_text(frame, 72)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 72
    assert "column_0" in lines[0] and "column_11" in lines[0] and "..." in lines[0]
    assert lines[-1] == "[40 rows x 12 columns]"
    small = pd.DataFrame({"a": [1, 2]})
    assert frame_text(small, 72) == small.to_string()


def test_fit_frames_in_a_shell(ip: Any) -> None:
    formatter = ip.display_formatter.formatters["text/plain"]
    frame = pd.DataFrame({f"c{i}": ["x" * 20] * 3 for i in range(10)})
    try:
        fit_frames(50, ip)
        data, _ = ip.display_formatter.format(frame)
        assert max(map(len, data["text/plain"].splitlines())) <= 50
    finally:
        formatter.pop(pd.DataFrame, None)


def test_the_timing_table_fits_the_width() -> None:
    records = [
        TimingRecord.from_measurement(
            started_at=T0 + timedelta(seconds=i), endpoint="https://acme.reinfer.io",
            method="GET", path=f"/api/_private/sources/dev/support-emails/comments?after={i}",
            http_status=200, server_timing_header="total;dur=12.5", client_ms=20.0,
            pull=1 if 1 <= i <= 6 else None, page=i if 1 <= i <= 6 else None,
        )
        for i in range(9)
    ]
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%reinfer_timing")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"text/html": render_timing_html(TimingLog(records)),
                              "text/plain": "TimingWidget(...)"})]
    nb.cells = [cell]
    lines = list(render_text(nb, width=70))
    assert all(len(line) <= 70 for line in lines), lines
    assert any(line.startswith("Timing: 9 calls") for line in lines)
    # 70 columns: the path gives way, then the time column goes; "client ms" stays.
    head = next(i for i, line in enumerate(lines) if "method" in line.split())
    assert lines[head].split()[:2] == ["#", "method"] and lines[head].endswith("client ms")
    table = [line for line in lines[head:] if line.strip()]
    # The pull is one row (its pages folded away, as in the notebook).
    assert len(table) == 1 + 4 and any("6 pages" in line for line in table)


# --------------------------------------------------------------------------- make


def _make() -> str:
    found = shutil.which("make")
    if found is None:
        pytest.skip("no `make` on PATH: the Makefile targets cannot be run here")
    return found


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REINFER_", "JUPYTER"))}
    env["REINFER_CONTEXTS_FILE"] = str(tmp_path / "contexts.json")
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                 "JUPYTERLAB_WORKSPACES_DIR"):
        (tmp_path / name).mkdir()
        env[name] = str(tmp_path / name)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _make_command(*targets: str) -> list[str]:
    """make run in the repository with this interpreter, never reinstalling anything."""
    venv = Path(sys.executable).parent.parent
    return [_make(), "-s", "-C", str(ROOT), f"PY={sys.executable}", f"VENV={venv}",
            "-o", f"{venv}/.installed-test", "-o", f"{venv}/.installed-lab", *targets]


@pytest.mark.slow
def test_make_demo_runs_the_tutorial_it_is_given(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["COLUMNS"] = "90"
    done = subprocess.run(_make_command("demo", "NB=04"), env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    lines = out.splitlines()
    assert lines[0].startswith("Running 04_analysing_comments.ipynb against the embedded")
    assert lines[-1].startswith("04_analysing_comments.ipynb: ") and "cells ran" in lines[-1]
    wide = [line for line in lines if len(line) > 90]
    assert wide == [], "lines wider than the terminal (COLUMNS=90)"
    # Headings come with their prose: the line under a title's underline is text.
    title = next(i for i, line in enumerate(lines) if line and set(line) == {"="})
    assert lines[title + 1].strip() and not lines[title + 1].startswith(">>>")
    # Frames show as many columns as fit, with their dimensions.
    assert any(re.fullmatch(r"\[\d+ rows x \d+ columns\]", line) for line in lines)
    # The module's own --notebook option, documented and accepted as a path.
    done = subprocess.run(
        [sys.executable, "-m", "reinfer_nb.demo", "--quiet", "--notebook",
         str(NOTEBOOKS / "01_getting_started.ipynb")],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0 and "01_getting_started.ipynb: " in done.stdout, done.stderr


@pytest.fixture
def lab_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Queue[str], int]]:
    """``make lab`` in a session of its own, its output read line by line in a thread."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    # Ctrl-C must reach make and JupyterLab even when these tests run in the background
    # (where SIGINT is ignored and children inherit that): restore it before exec.
    restore = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
               "os.execvp(sys.argv[1], sys.argv[1:])")
    command = [sys.executable, "-c", restore, *_make_command("lab", f"LAB_PORT={port}")]
    process = subprocess.Popen(command, env=_env(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: Queue[str] = Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield process, lines, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _lines_until(lines: Queue[str], done: str, seconds: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except Empty:
            continue
        seen.append(line)
        if done in line:
            return seen
    raise AssertionError(f"no {done!r} within {seconds} s; output:\n" + "\n".join(seen))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_make_lab_prints_one_banner_and_opens_the_first_tutorial(
    lab_process: tuple[subprocess.Popen[str], Queue[str], int],
) -> None:
    process, lines, port = lab_process
    seen = _lines_until(lines, "Stop:", 180)
    seen += _lines_until(lines, "=" * 20, 10)
    text = "\n".join(seen)
    assert seen[0].startswith("Starting JupyterLab on notebooks/")
    banner = seen[[i for i, line in enumerate(seen) if set(line) == {"="}][0]:]
    assert "JupyterLab is running on the reinfer_nb tutorials" in text
    assert "embedded sandbox" in text and "neither REINFER_ENDPOINT nor REINFER_TOKEN" in text
    assert "Ctrl-C" in text
    assert not any(re.match(r"\[[IWE] ", line) for line in banner)  # no log lines inside
    match = re.search(r"Open:\s+(\S+)", text)
    assert match is not None
    url = match.group(1)
    assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/01_getting_started.ipynb?token=")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as answer:
        assert answer.status == 200 and "jupyter-config-data" in answer.read().decode()
    # Jupyter's own default URL goes to the tutorial too (a bookmark of the root).
    token = url.split("token=", 1)[1]
    with opener.open(f"http://127.0.0.1:{port}/?token={token}", timeout=30) as answer:
        assert answer.geturl().split("?")[0].endswith("/lab/tree/01_getting_started.ipynb")
    # Ctrl-C stops it, kernels and all.
    os.killpg(process.pid, signal.SIGINT)
    rest = _lines_until(lines, "JupyterLab stopped.", 60)
    assert "Stopping JupyterLab…" in rest
    process.wait(30)
    with pytest.raises(urllib.error.URLError):
        opener.open(f"http://127.0.0.1:{port}/api/status", timeout=5)
