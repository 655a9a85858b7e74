"""Run a tutorial headless and show what it found in the terminal: ``make demo``.

``python -m reinfer_nb.demo`` executes ``notebooks/01_getting_started.ipynb`` in a real
kernel against the embedded sandbox (the ``REINFER_*`` settings are removed from the
kernel's environment, so it never touches a real tenant unless ``--keep-env`` is given),
then prints the notebook's headings, the code it ran, its printed lines and its
DataFrames as text, ending with the timing summary. The exit status is non-zero when a
cell fails that is not tagged ``raises-exception``.

:func:`run_notebook` is the same runner as a function; the tests use it too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

__all__ = [
    "CellRun",
    "NotebookRun",
    "default_notebook",
    "main",
    "render_text",
    "run_notebook",
    "sandbox_env",
]

DEFAULT_NOTEBOOK = "01_getting_started.ipynb"
ERROR_TAG = "raises-exception"
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@dataclass(frozen=True)
class CellRun:
    """The execute reply of one code cell: its index, status and whether it may fail."""

    index: int
    status: str  # "ok", "error" or "aborted"
    tagged: bool
    ename: str | None = None
    evalue: str | None = None


@dataclass
class NotebookRun:
    """An executed notebook, each code cell's reply, and how long it took."""

    path: Path
    nb: Any
    cells: list[CellRun] = field(default_factory=list)
    seconds: float = 0.0
    error: BaseException | None = None
    kernel_argv: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every cell ran, and only tagged cells failed."""
        return self.error is None and all(c.status == "ok" or c.tagged for c in self.cells)

    @property
    def failures(self) -> list[CellRun]:
        """The untagged cells whose reply was not ``ok``."""
        return [c for c in self.cells if c.status != "ok" and not c.tagged]


def default_notebook() -> Path:
    """The getting-started tutorial of this checkout (the package is installed editable)."""
    return Path(__file__).resolve().parent.parent / "notebooks" / DEFAULT_NOTEBOOK


def sandbox_env(
    base: Mapping[str, str] | None = None, contexts_file: str | None = None
) -> dict[str, str]:
    """``base`` (the current environment) without ``REINFER_*``, so a login uses the sandbox.

    The contexts file is pointed at ``contexts_file`` (a path that need not exist), so a
    current context in the user's own file does not redirect the tutorial either.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith("REINFER_")}
    if contexts_file is not None:
        env["REINFER_CONTEXTS_FILE"] = contexts_file
    return env


def run_notebook(
    path: str | os.PathLike[str],
    *,
    workdir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    kernel_stderr: Any = None,
) -> NotebookRun:
    """Execute a notebook with nbclient in a fresh kernel; never raises on a cell failure.

    The kernel is ipykernel running this very interpreter (``sys.executable``), whatever
    kernelspecs are installed, so it sees the packages of this environment. ``workdir`` is
    the kernel's working directory (default: the notebook's folder); ``env`` its
    environment (default: this process's); ``kernel_stderr`` a file for the kernel
    process's own stderr (default: inherited). Cells tagged ``raises-exception`` may fail
    and execution goes on; any other failure stops the run, and ``run.ok`` is False.
    """
    import nbformat

    try:
        from nbclient import NotebookClient
    except ImportError:
        raise SystemExit(
            "The headless runner needs nbclient and ipykernel: pip install 'reinfer-nb[demo]'."
        ) from None

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    run = NotebookRun(path, nb)

    def on_cell_executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        if not run.kernel_argv and client.km is not None:
            run.kernel_argv = client.km.format_kernel_cmd()
        content = execute_reply.get("content", {})
        run.cells.append(CellRun(
            cell_index, content.get("status", "unknown"),
            ERROR_TAG in cell.get("metadata", {}).get("tags", []),
            content.get("ename"), content.get("evalue"),
        ))

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=_this_python_kernel_manager(),
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": str(workdir or path.parent)}},
        on_cell_executed=on_cell_executed,
    )
    started = time.perf_counter()
    try:
        launch: dict[str, Any] = {"env": dict(os.environ if env is None else env)}
        if kernel_stderr is not None:
            launch["stderr"] = kernel_stderr
        client.execute(**launch)
    except Exception as exc:  # noqa: BLE001 - a failed cell, a dead kernel or a timeout
        run.error = exc
    run.seconds = time.perf_counter() - started
    return run


def _this_python_kernel_manager() -> type:
    """A kernel manager that only knows ipykernel's native kernel: ``sys.executable``.

    The usual lookup prefers a ``python3`` kernelspec of the user or the system, which may
    run another Python without this package.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPythonKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)

    return ThisPythonKernelManager


# --------------------------------------------------------------------------- terminal view


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def render_text(nb: Any, *, show_code: bool = True) -> Iterator[str]:
    """What a reader would see, as terminal lines: headings, code, prints and tables."""
    for cell in nb.cells:
        source = _text(cell.source).strip()
        if cell.cell_type == "markdown":
            for line in source.splitlines():
                if line.startswith("#"):
                    title = line.lstrip("#").strip()
                    yield ""
                    yield title
                    yield "=" * len(title) if line.startswith("# ") else "-" * len(title)
            continue
        if cell.cell_type != "code" or not source:
            continue
        if show_code:
            lines = [
                ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
            ]
            if lines:
                yield ""
                yield ">>> " + lines[0] + (" …" if len(lines) > 1 else "")
        for output in cell.get("outputs", []):
            yield from _render_output(output, ERROR_TAG in cell.metadata.get("tags", []))


def _render_output(output: Any, tagged: bool) -> Iterator[str]:
    kind = output.get("output_type")
    if kind == "stream":
        text = _text(output.get("text", "")).rstrip("\n")
        if text:
            yield from (line.rsplit("\r", 1)[-1] for line in text.splitlines())
        return
    if kind == "error":
        note = "(expected failure) " if tagged else "FAILED: "
        yield f"{note}{output.get('ename')}: {output.get('evalue')}"
        return
    data = output.get("data", {})
    html = _text(data.get("text/html", ""))
    if 'class="dataframe' in html or "class='dataframe" in html:
        yield _text(data.get("text/plain", ""))
    elif "reinfer-timing" in html:
        yield from _timing_text(html)
    elif _WIDGET_VIEW in data:
        return  # progress bars and other live widgets
    elif any(mime.startswith("image/") for mime in data):
        yield "[figure]"
    elif "text/plain" in data:
        yield _text(data["text/plain"])


class _TimingHTML(HTMLParser):
    """The summary line and the table rows of the timing log's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: list[str] = []
        self.rows: list[list[str]] = []
        self._in_summary = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if "reinfer-timing-summary" in classes or self._in_summary:
            self._in_summary += 1
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._in_summary:
            self._in_summary -= 1
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_summary:
            self.summary.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _timing_text(html: str) -> Iterator[str]:
    """The timing widget's HTML as a summary line and an aligned table."""
    parser = _TimingHTML()
    parser.feed(html)
    summary = " ".join("".join(parser.summary).split())
    if summary:
        yield "Timing: " + summary
    rows = [row for row in parser.rows if row]
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        yield "  ".join(cells).rstrip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reinfer_nb.demo",
        description="Execute a tutorial notebook headless against the embedded sandbox and "
        "print its tables and timing summary.",
    )
    parser.add_argument("--notebook", type=Path, default=None,
                        help=f"Notebook to run (default: notebooks/{DEFAULT_NOTEBOOK}).")
    parser.add_argument("--timeout", type=float, default=180, help="Seconds per cell.")
    parser.add_argument("--save", type=Path, metavar="PATH",
                        help="Also write the executed notebook here.")
    parser.add_argument("--keep-env", action="store_true",
                        help="Keep REINFER_* settings: run against the tenant they name.")
    parser.add_argument("--quiet", action="store_true", help="Print only the result line.")
    args = parser.parse_args(argv)

    notebook = args.notebook or default_notebook()
    if not notebook.is_file():
        print(f"No notebook at {notebook}: pass --notebook PATH.", file=sys.stderr)
        return 2
    where = "the tenant named by REINFER_*" if args.keep_env else "the embedded sandbox"
    print(f"Running {notebook.name} against {where} in a Jupyter kernel (no browser)…",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="reinfer-demo-") as tmp:
        env = dict(os.environ) if args.keep_env else sandbox_env(
            contexts_file=str(Path(tmp) / "contexts.json"))
        # The kernel's own stderr (start-up notices) is shown only if the run fails.
        with open(Path(tmp) / "kernel-stderr.txt", "w+", encoding="utf-8") as kernel_log:
            run = run_notebook(notebook, workdir=tmp, env=env, timeout=args.timeout,
                               kernel_stderr=kernel_log)
            kernel_log.seek(0)
            kernel_messages = kernel_log.read()
    if not args.quiet:
        for line in render_text(run.nb):
            print(line)
        sys.stdout.flush()
    if args.save:
        import nbformat

        args.save.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(run.nb, args.save)
    print()
    if run.ok:
        print(f"{notebook.name}: {len(run.cells)} code cells ran in {run.seconds:.1f} s "
              f"({sum(c.status != 'ok' for c in run.cells)} expected failures).")
        return 0
    if kernel_messages.strip():
        print(kernel_messages.rstrip(), file=sys.stderr)
    print(f"{notebook.name} FAILED after {run.seconds:.1f} s.", file=sys.stderr)
    for cell in run.failures:
        print(f"  cell {cell.index + 1}: {cell.ename}: {cell.evalue}", file=sys.stderr)
    if run.error is not None and not run.failures:
        print(f"  {type(run.error).__name__}: {str(run.error).strip()[-500:]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
