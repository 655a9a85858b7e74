"""Shared helpers of the benchmark scripts (not a benchmark itself).

* :class:`SandboxProcess`: the sandbox in ANOTHER process (``python -m reinfer_nb.sandbox``),
  so the client's CPU time and memory are its own;
* :func:`machine`: where the figures come from (CPU, cores, Python, OS, package versions);
* :class:`Table`: a table printed as text and rendered as markdown;
* :class:`Report`: the tables and target checks of one script, written as markdown and JSON
  for ``run_all.py`` (``--md`` / ``--json``).

Every script takes ``--quick`` (fewer calls, rounds and comments) and runs alone, e.g.
``.venv/bin/python benchmarks/bench_calls.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
if str(ROOT) not in sys.path:  # run from a checkout, installed or not
    sys.path.insert(0, str(ROOT))

PACKAGES = ("pandas", "numpy", "pyarrow", "duckdb", "requests", "urllib3", "ipython",
            "ipywidgets", "psutil")


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    """The machine and software the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    memory = ""
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    from reinfer_nb import __version__

    try:
        load = "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    except OSError:
        load = "n/a"
    return {
        "cpu": cpu,
        "cores": f"{os.cpu_count()} logical ({usable} usable)",
        "memory": memory,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(versions),
        "reinfer_nb": f"{__version__} ({_git_revision()})",
        "load average at start (1/5/15 min)": load,
    }


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "no git"
    return f"git {head}{' + local changes' if dirty else ''}"


def machine_table() -> Table:
    info = machine()
    return Table("Machine", ["", ""], [[k, v] for k, v in info.items()], left=2)


# --------------------------------------------------------------------------- sandbox


class SandboxProcess:
    """``python -m reinfer_nb.sandbox`` as a child process, on a free loopback port.

    Its first stdout line, when ready, is JSON with ``url`` and the tokens; :meth:`stats` and
    :meth:`reset_stats` use its ``/_sandbox/stats`` control path over one keep-alive
    connection of their own (opened before the counters are reset, so it is not counted).
    """

    def __init__(self, comments: int = 1000, seed: int = 0, startup_timeout: float = 120.0,
                 server_ms: float = 0.0):
        import requests

        self.comments = comments
        self.token = "sbx_" + secrets.token_hex(16)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        extra = ["--server-ms", f"{server_ms:g}"] if server_ms else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reinfer_nb.sandbox", "--host", "127.0.0.1", "--port", "0",
             "--comments", str(comments), "--seed", str(seed), "--token", self.token, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
        )
        self.url = self._wait_for_url(startup_timeout)
        # Keep reading its output so that it never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        self._control = requests.Session()
        self._control.headers["Authorization"] = f"Bearer {self.token}"
        self._control.get(f"{self.url}/_sandbox/stats", timeout=30).raise_for_status()

    def _wait_for_url(self, timeout: float) -> str:
        assert self.process.stdout is not None
        result: dict[str, str] = {}

        def read() -> None:
            assert self.process.stdout is not None
            ready = self.process.stdout.readline()  # the ready line: one JSON object
            if ready:
                result["url"] = json.loads(ready)["url"]

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if "url" not in result:
            self.stop()
            err = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"the sandbox did not start within {timeout:.0f} s: {err[-2000:]}")
        return result["url"]

    def _drain(self) -> None:
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                threading.Thread(target=stream.read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> dict[str, Any]:
        response = self._control.get(f"{self.url}/_sandbox/stats", timeout=30)
        response.raise_for_status()
        return response.json()["stats"]

    def reset_stats(self) -> None:
        self._control.delete(f"{self.url}/_sandbox/stats", timeout=30).raise_for_status()

    def stop(self) -> None:
        control = getattr(self, "_control", None)
        if control is not None:
            control.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def magics_shell(url: str, token: str) -> Any:
    """An IPython shell with ``reinfer_nb`` loaded, logged in to ``url``, no progress bar."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    os.environ["REINFER_TOKEN"] = token
    os.environ["REINFER_ENDPOINT"] = url
    shell.run_line_magic("load_ext", "reinfer_nb")
    shell.run_line_magic("config", "ReinferMagics.progress = False")
    login(shell)
    return shell


def login(shell: Any) -> None:
    """``%reinfer_login`` quietly (a fresh Client: a fresh connection pool)."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        shell.run_line_magic("reinfer_login", "--no-check --no-prompt")


# --------------------------------------------------------------------------- tables


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return str(value)


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    left: int = 1  # how many leading columns are left-aligned in text

    def text(self) -> str:
        cells = [[_cell(c) for c in row] for row in [self.headers, *self.rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.headers))]

        def fmt(row: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < self.left else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=False))
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        out = [self.title, "=" * len(self.title)]
        if any(self.headers):
            out += [fmt(cells[0]), rule]
        out += [fmt(row) for row in cells[1:]]
        out += [f"  {note}" for note in self.notes]
        return "\n".join(out)

    def markdown(self, level: int = 3) -> str:
        headers = [h or " " for h in self.headers]
        out = [f"{'#' * level} {self.title}", "", "| " + " | ".join(headers) + " |",
               "|" + "|".join(" --- " if i < self.left else " ---: " for i in range(len(headers)))
               + "|"]
        out += ["| " + " | ".join(_cell(c).replace("|", "\\|") for c in row) + " |"
                for row in self.rows]
        if self.notes:
            out.append("")
            out += [f"{note}  " for note in self.notes]
        return "\n".join(out)


@dataclass
class Target:
    """One target of the issue: what, the measured ratio or value, the limit, met or not."""

    name: str
    measured: float
    limit: float
    unit: str = "x"
    lower_is_better: bool = True
    report_only: bool = False  # a figure to show, with no limit (the verdict says "reported")

    @property
    def met(self) -> bool | None:
        if self.report_only:
            return None
        return self.measured <= self.limit if self.lower_is_better else self.measured >= self.limit

    def measured_text(self) -> str:
        if self.unit == "x":
            return f"{self.measured:.2f}{self.unit}"
        return f"{self.measured:g}{self.unit}"

    def limit_text(self) -> str:
        if self.report_only:
            return "report"
        op = "<=" if self.lower_is_better else ">="
        if self.unit == "x":
            return f"{op} {self.limit:.2f}{self.unit}"
        return f"{op} {self.limit:g}{self.unit}"


def verdict(ok: bool | None) -> str:
    return "reported" if ok is None else "met" if ok else "MISSED"


class Report:
    """What one script measured: tables (printed as they come) and targets."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.args = args
        self.tables: list[Table] = []
        self.targets: list[Target] = []

    def table(self, table: Table) -> None:
        self.tables.append(table)
        print()
        print(table.text(), flush=True)

    def target(self, target: Target) -> Target:
        self.targets.append(target)
        return target

    def finish(self) -> None:
        if self.targets:  # printed only: run_all.py gathers every target in one table
            summary = Table(
                f"{self.name}: targets", ["target", "measured", "limit", "verdict"],
                [[t.name, t.measured_text(), t.limit_text(), verdict(t.met)] for t in self.targets],
            )
            print()
            print(summary.text(), flush=True)
        if self.args.md:
            with open(self.args.md, "a", encoding="utf-8") as out:
                for table in self.tables:
                    out.write(table.markdown() + "\n\n")
        if self.args.json:
            with open(self.args.json, "a", encoding="utf-8") as out:
                for t in self.targets:
                    out.write(json.dumps({
                        "script": self.name, "target": t.name, "measured": t.measured_text(),
                        "limit": t.limit_text(), "met": t.met,
                    }) + "\n")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer calls and rounds (a smoke run)")
    p.add_argument("--md", metavar="PATH", help="append the tables as markdown to PATH")
    p.add_argument("--json", metavar="PATH", help="append the targets as JSON lines to PATH")
    p.add_argument("--no-machine", action="store_true", help="do not print the machine table")
    return p


def start(report: Report) -> None:
    """Print the machine first (run_all prints it once and passes --no-machine)."""
    if not report.args.no_machine:
        print(machine_table().text(), flush=True)


# --------------------------------------------------------------------------- timing


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1), interpolated."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def rotate(items: Sequence[Any], by: int) -> list[Any]:
    """``items`` rotated, so that no variant always runs first (or last) in a round."""
    by %= len(items)
    return [*items[by:], *items[:by]]


def time_calls(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``n`` calls of ``fn``."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0, time.process_time() - c0


def fmt_ms(seconds: float, digits: int = 3) -> str:
    return f"{seconds * 1000:.{digits}f}"


def run_child(script: str, arguments: Sequence[str], token: str) -> dict[str, Any]:
    """Run ``script`` (a benchmark file) as a child process with ``arguments``, the token
    on its stdin; its last stdout line is a JSON object of figures."""
    proc = subprocess.run(
        [sys.executable, str(Path(script).resolve()), *arguments, "--token-stdin"],
        input=token, capture_output=True, text=True, cwd=BENCH_DIR, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def child_options(p: argparse.ArgumentParser, variants: Iterable[str] | None = None) -> None:
    """The hidden options :func:`run_child` starts a benchmark's child process with."""
    p.add_argument("--child", choices=None if variants is None else list(variants),
                   help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--token-stdin", action="store_true", help=argparse.SUPPRESS)


def answered_as_child(args: argparse.Namespace,
                      measure: Callable[[str, str, str], dict[str, Any]]) -> bool:
    """In a child process started by :func:`run_child` (``--child``): print the JSON of
    ``measure(variant, url, token)`` (the token read from stdin) and return True."""
    if not args.child:
        return False
    token = sys.stdin.read().strip() if args.token_stdin else ""
    print(json.dumps(measure(args.child, args.url, token)))
    return True


def sandbox_size_for(owner: str, sources: Sequence[str], comments: int) -> int:
    """The sandbox size at which the sources ``owner/<name>`` hold exactly ``comments``
    together (the sandbox splits its comments over its sources by fixed shares)."""
    from reinfer_nb.sandbox.data.sample import split_counts
    from reinfer_nb.sandbox.data.vocabulary import SOURCES

    shares = [spec[5] for spec in SOURCES]
    keys = [(spec[0], spec[1]) for spec in SOURCES]
    mine = [keys.index((owner, name)) for name in sources]
    guess = int(comments * sum(shares) / sum(shares[i] for i in mine))
    for total in range(max(guess - 50, 0), guess + 50):
        counts = split_counts(total, shares)
        if sum(counts[i] for i in mine) == comments:
            return total
    raise ValueError(f"no sandbox size gives {comments} comments in {owner}/{sources}")
