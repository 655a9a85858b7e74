"""Run a tutorial headless and show what it found in the terminal: ``make demo``.

``python -m reinfer_nb.demo [NOTEBOOK]`` (``make demo NB=04``) executes a tutorial (by
default ``notebooks/01_getting_started.ipynb``; ``04`` or ``--notebook PATH`` choose
another) in a real kernel against the embedded sandbox (the ``REINFER_*`` settings are
removed from the kernel's environment, so it never touches a real tenant unless
``--keep-env`` is given), then prints, at the terminal's width, the notebook's headings
with the first paragraph of their prose, the code it ran, its printed lines and its
DataFrames (as many columns as fit), ending with the timing table. The exit status is
non-zero when a cell fails that is not tagged ``raises-exception``.

:func:`run_notebook` is the same runner as a function; the tests use it too.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import sys
import tempfile
import textwrap
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
    "find_notebook",
    "fit_frames",
    "frame_text",
    "main",
    "render_text",
    "run_notebook",
    "sandbox_env",
    "terminal_width",
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
    kernel_setup: Sequence[str] = (),
) -> NotebookRun:
    """Execute a notebook with nbclient in a fresh kernel; never raises on a cell failure.

    The kernel is ipykernel running this very interpreter (``sys.executable``), whatever
    kernelspecs are installed, so it sees the packages of this environment. ``workdir`` is
    the kernel's working directory (default: the notebook's folder); ``env`` its
    environment (default: this process's); ``kernel_stderr`` a file for the kernel
    process's own stderr (default: inherited); ``kernel_setup`` lines of Python the kernel
    runs before the first cell (not part of the notebook). Cells tagged
    ``raises-exception`` may fail and execution goes on; any other failure stops the run,
    and ``run.ok`` is False.
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
        extra_arguments=[f"--IPKernelApp.exec_lines={line}" for line in kernel_setup],
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


def fit_frames(width: int, shell: Any = None) -> None:
    """Show DataFrames as text at most ``width`` characters wide (with as many columns as
    fit), in this IPython shell: the headless runner runs it in the kernel at start-up."""
    import pandas as pd

    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return

    def printer(frame: Any, p: Any, cycle: bool) -> None:
        p.text(frame_text(frame, width) if type(frame) is pd.DataFrame else repr(frame))

    shell.display_formatter.formatters["text/plain"].for_type(pd.DataFrame, printer)


def frame_text(frame: Any, width: int) -> str:
    """A DataFrame as text no wider than ``width``: the most columns that fit (the first
    and last ones, ``...`` between), cells cut at a third of the width, rows as pandas'
    display options say."""
    import pandas as pd

    max_rows = pd.get_option("display.max_rows")
    min_rows = pd.get_option("display.min_rows")
    colwidth = max(width // 3, 12)
    text = repr(frame)
    for columns in range(min(frame.shape[1], 24), 0, -1):
        text = str(frame.to_string(
            max_rows=max_rows, min_rows=min_rows, max_cols=columns, max_colwidth=colwidth,
            line_width=None, show_dimensions=len(frame) > (max_rows or len(frame))
            or columns < frame.shape[1],
        ))
        if max((len(line) for line in text.splitlines()), default=0) <= width:
            return text
    return "\n".join(_clip(line, width) for line in text.splitlines())


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


def terminal_width(default: int = 100) -> int:
    """The terminal's width in columns (``$COLUMNS`` wins; ``default`` when unknown)."""
    return max(shutil.get_terminal_size((default, 24)).columns, 40)


def render_text(nb: Any, *, show_code: bool = True, width: int = 100) -> Iterator[str]:
    """What a reader would see, as terminal lines of at most ``width`` characters:
    headings with their prose in short, code, prints and tables."""
    for cell in nb.cells:
        source = _text(cell.source).strip()
        if cell.cell_type == "markdown":
            yield from _markdown_text(source, width)
            continue
        if cell.cell_type != "code" or not source:
            continue
        if show_code:
            lines = [
                ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
            ]
            if lines:
                yield ""
                yield _clip(">>> " + lines[0] + (" …" if len(lines) > 1 else ""), width)
        for output in cell.get("outputs", []):
            for line in _render_output(output, ERROR_TAG in cell.metadata.get("tags", []), width):
                yield from _fold(line, width)


# Markdown the terminal cannot show: emphasis marks, links (their text is kept), code ticks.
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s")
_PROSE_CHARS = 320


def _markdown_text(source: str, width: int) -> Iterator[str]:
    """Headings, each followed by the first paragraph of its prose, in short."""
    wants_prose = True
    for block in re.split(r"\n\s*\n", source):
        lines = block.strip().splitlines()
        if not lines:
            continue
        if lines[0].startswith("#"):
            for line in lines:
                if line.startswith("#"):
                    title = _plain(line.lstrip("#").strip())
                    yield ""
                    yield _clip(title, width)
                    yield ("=" if line.startswith("# ") else "-") * min(len(title), width)
            wants_prose = True
            continue
        first = lines[0].lstrip()
        if not wants_prose or first.startswith(("|", "```", "<", ">", "    ")):
            continue  # tables, code and quotes: the notebook has them
        yield from textwrap.wrap(_short(_plain(" ".join(x.strip() for x in lines))), width)
        wants_prose = False


def _plain(text: str) -> str:
    return _EMPHASIS.sub("", _LINK.sub(r"\1", text))


def _short(text: str) -> str:
    """At most a few sentences: cut after the last sentence that fits, else at a word."""
    if len(text) <= _PROSE_CHARS:
        return text
    ends = [m.start() for m in _SENTENCE_END.finditer(text) if m.start() < _PROSE_CHARS]
    if ends:
        return text[: ends[-1]] + " …"
    return text[: _PROSE_CHARS].rsplit(" ", 1)[0] + " …"


def _clip(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def _fold(text: str, width: int) -> Iterator[str]:
    """Each line of ``text``, folded at ``width`` (a long printed line goes on below)."""
    for line in text.splitlines() or [""]:
        if len(line) <= width:
            yield line
        else:
            yield from textwrap.wrap(line, width, subsequent_indent="  ",
                                     replace_whitespace=False, drop_whitespace=True)


def _render_output(output: Any, tagged: bool, width: int = 100) -> Iterator[str]:
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
        yield from _timing_text(html, width)
    elif _WIDGET_VIEW in data:
        return  # progress bars and other live widgets
    elif any(mime.startswith("image/") for mime in data):
        yield "[figure]"
    elif "text/plain" in data:
        yield _text(data["text/plain"])


_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                   "meta", "source", "track", "wbr"})


class _TimingCells(HTMLParser):
    """The summary, the note and the table rows of the timing log's HTML (a pull's pages,
    folded away in the notebook, are left out here too)."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: list[str] = []
        self.note: list[str] = []
        self.rows: list[list[str]] = []
        self._stack: list[str] = []  # per open element: "summary", "note", "page" or ""
        self._cell: list[str] | None = None
        self._cell_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        role = found.get("role")
        kind = next((name for name in ("summary", "note", "page")
                     if f"reinfer-timing-{name}" in classes), "")
        self._stack.append(kind)
        if "page" in self._stack:
            return
        if role == "row":
            self.rows.append([])
        elif role in ("cell", "columnheader") and self.rows and self._cell is None:
            self._cell, self._cell_depth = [], len(self._stack)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not self._stack:
            return
        if self._cell is not None and len(self._stack) == self._cell_depth:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        if "summary" in self._stack:
            self.summary.append(data)
        elif "note" in self._stack:
            self.note.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _timing_text(html: str, width: int = 100) -> Iterator[str]:
    """The timing widget's HTML as a summary line, its note and an aligned table that fits
    ``width`` (the path column gives way)."""
    parser = _TimingCells()
    parser.feed(html)
    summary = " ".join("".join(parser.summary).split())
    if summary:
        yield from textwrap.wrap("Timing: " + summary, width)
    note = " ".join("".join(parser.note).split())
    if note:
        yield from textwrap.wrap(note, width)
    rows = [row for row in parser.rows if row]
    if not rows:
        return
    count = len(rows[0])
    rows = [row + [""] * (count - len(row)) for row in rows]
    rows = [[cell.removeprefix("▸ ") for cell in row] for row in rows]
    widths, spare = _fit_widths(rows, width)
    # Too wide even with the path cut short: leave out the time, then the call number.
    for dropped in ("time", "#"):
        if spare >= 0:
            break
        if dropped in rows[0]:
            gone = rows[0].index(dropped)
            rows = [row[:gone] + row[gone + 1:] for row in rows]
            widths, spare = _fit_widths(rows, width)
    numeric = {i for i, name in enumerate(rows[0]) if name.endswith("ms") or name == "#"}
    for row in rows:
        cells = []
        for i, (cell, size) in enumerate(zip(row, widths, strict=True)):
            cell = _clip(cell, size)
            cells.append(cell.rjust(size) if i in numeric else cell.ljust(size))
        yield _clip("  ".join(cells).rstrip(), width)


def _fit_widths(rows: list[list[str]], width: int) -> tuple[list[int], int]:
    """Column widths (the path column cut down to fit, to 8 at least) and what is spare."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    spare = width - (sum(widths) + 2 * (len(widths) - 1))
    if "path" in rows[0] and spare < 0:
        path = rows[0].index("path")
        cut = min(-spare, widths[path] - 8)
        widths[path] -= max(cut, 0)
        spare += max(cut, 0)
    return widths, spare


def find_notebook(name: str | os.PathLike[str] | None, folder: Path | None = None) -> Path:
    """The notebook to run: a path, or a tutorial of ``notebooks/`` by its number or the
    start of its name (``04``, ``4``, ``04_analysing``); default the getting-started one.

    Raises :class:`FileNotFoundError` saying which tutorials there are.
    """
    if name is None:
        return default_notebook()
    given = Path(name)
    if given.suffix == ".ipynb" or given.is_file():
        if given.is_file():
            return given
        raise FileNotFoundError(f"No notebook at {given}: pass a path or a tutorial number.")
    folder = folder or default_notebook().parent
    text = str(name)
    prefix = text.zfill(2) if text.isdigit() else text
    matches = sorted(folder.glob(f"{glob.escape(prefix)}*.ipynb"))
    if len(matches) == 1:
        return matches[0]
    tutorials = ", ".join(p.stem for p in sorted(folder.glob("[0-9][0-9]_*.ipynb")))
    what = "matches several" if matches else "matches no tutorial"
    raise FileNotFoundError(f"{text!r} {what} in {folder}: choose one of {tutorials}.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reinfer_nb.demo",
        description="Execute a tutorial notebook headless against the embedded sandbox and "
        "print, at the terminal's width, its headings with their prose in short, the code "
        "it ran, what it printed, its tables and the timing summary.",
        epilog="Examples: python -m reinfer_nb.demo 04    (make demo NB=04);  "
        "python -m reinfer_nb.demo --notebook my.ipynb",
    )
    parser.add_argument("notebook", nargs="?", default=None, metavar="NOTEBOOK",
                        help="A tutorial's number or name start (04, 02_dev) or a notebook "
                        f"path (default: notebooks/{DEFAULT_NOTEBOOK}).")
    parser.add_argument("--notebook", dest="notebook_option", metavar="PATH", default=None,
                        help="The notebook to run, as the positional argument.")
    parser.add_argument("--timeout", type=float, default=180, help="Seconds per cell.")
    parser.add_argument("--width", type=int, default=None,
                        help="Columns of text (default: the terminal's width).")
    parser.add_argument("--save", type=Path, metavar="PATH",
                        help="Also write the executed notebook here.")
    parser.add_argument("--keep-env", action="store_true",
                        help="Keep REINFER_* settings: run against the tenant they name.")
    parser.add_argument("--quiet", action="store_true", help="Print only the result line.")
    args = parser.parse_args(argv)

    if args.notebook and args.notebook_option:
        parser.error("give the notebook once: as NOTEBOOK or as --notebook PATH")
    try:
        notebook = find_notebook(args.notebook or args.notebook_option)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    width = args.width or terminal_width()
    where = "the tenant named by REINFER_*" if args.keep_env else "the embedded sandbox"
    for line in textwrap.wrap(
        f"Running {notebook.name} against {where} in a Jupyter kernel (no browser)…", width
    ):
        print(line, flush=True)
    setup = [f"__import__('reinfer_nb.demo').demo.fit_frames({width})"]
    with tempfile.TemporaryDirectory(prefix="reinfer-demo-") as tmp:
        env = dict(os.environ) if args.keep_env else sandbox_env(
            contexts_file=str(Path(tmp) / "contexts.json"))
        # The kernel's own stderr (start-up notices) is shown only if the run fails.
        with open(Path(tmp) / "kernel-stderr.txt", "w+", encoding="utf-8") as kernel_log:
            run = run_notebook(notebook, workdir=tmp, env=env, timeout=args.timeout,
                               kernel_stderr=kernel_log, kernel_setup=setup)
            kernel_log.seek(0)
            kernel_messages = kernel_log.read()
    if not args.quiet:
        for line in render_text(run.nb, width=width):
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
