"""The getting-started notebook in JupyterLab, driven by headless Chromium: what a person sees.

One module fixture does the work once: it copies ``notebooks/01_getting_started.ipynb`` into a
temporary root (a built-in notebook of the same kind stands in, with a logged reason, while
the file is missing), starts JupyterLab on 127.0.0.1 with its own token and directories,
opens the notebook in Debian's Chromium through Playwright, runs all cells, and records what
the page shows, the kernel's timing log, a screenshot of the timing widget
(``tests/artifacts/timing_widget.png``) and every console message. The tests then check:

* the notebook ran: every code cell executed, no error output;
* the magics' DataFrames are rendered as HTML tables (with a ``name`` column);
* ``%reinfer_timing`` is a live ipywidgets view (not its static ``text/html`` fallback), its
  summary and rows match the calls in the kernel's log, and it updates when a call is made;
* in a 1,000 px window, an ``--all`` pull made from the kernel shows as one row with its page
  count that expands to its pages, every column (``client ms`` included) is on screen and
  readable, and the chart has words on its axes and legend (the screenshot shows this);
* the browser console has no errors, and the page fetched nothing off loopback.

Needs /usr/bin/chromium (``.ci/run`` installs Debian's package), Playwright for Python (its
driver only: no browser is downloaded) and JupyterLab; skipped with the reason otherwise.
Run it alone with ``.venv/bin/python -m pytest tests/test_browser.py -v``.
"""

from __future__ import annotations

import ast
import json
import queue
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .support import browser as bs

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError:  # the fixture skips, naming what is missing
    PlaywrightError = PlaywrightTimeoutError = RuntimeError  # type: ignore[assignment,misc]

# What reading the kernel's log can raise: the kernel's own error (RuntimeError), no reply in
# time (TimeoutError, or queue.Empty from jupyter_client), an unreadable value.
KERNEL_ERRORS = (RuntimeError, TimeoutError, queue.Empty, ValueError, SyntaxError)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

SCREENSHOT = bs.ARTIFACTS / "timing_widget.png"
WIDGET_ATTR = "data-browser-test"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# The narrow window of issue 16: JupyterLab's file browser open, the widget must still fit.
VIEWPORT = {"width": 1000, "height": 1000}

# Bounds of the waits, in seconds (the whole module stays well inside the timeout above).
APP_LOAD = 60
KERNEL_READY = 60
RUN_ALL = 150
WIDGET_SETTLE = 30
LIVE_UPDATE = 20

# Installed before the page's own scripts: finds the notebook panel and describes its cells
# from JupyterLab's model (window.jupyterapp, exposed by LabApp.expose_app_in_browser) and DOM.
INIT_SCRIPT = r"""
window.__bt = {
  panel(name) {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.sessionContext && w.context.path.split('/').pop() === name) return w;
    }
    return null;
  },
  kernelStatus(name) {
    const p = window.__bt.panel(name);
    return p && p.sessionContext.session && p.sessionContext.session.kernel
      ? p.sessionContext.session.kernel.status : null;
  },
  busyPrompts(name) {
    const p = window.__bt.panel(name);
    return Array.from(p.content.node.querySelectorAll('.jp-InputArea-prompt'))
      .filter(e => e.textContent.includes('*')).length;
  },
  timingWidgets(area) {
    // Live views: ipywidgets' VBox view holding the summary HTML widget. The static
    // fallback would be a text/html output holding div.reinfer-timing instead.
    return Array.from(area.querySelectorAll('.jp-OutputArea-output > .jupyter-widgets.widget-vbox'))
      .filter(v => v.querySelector('.widget-html-content .reinfer-timing-summary'));
  },
  widgetsShow(name, calls) {
    // Every live timing widget's summary says "<calls> calls".
    const views = window.__bt.describe(name).flatMap(c => c.widgets);
    return views.length > 0 && views.every(v => {
      const m = v.summary.match(/([\d,]+) calls?/);
      return m !== null && Number(m[1].replace(/,/g, '')) === calls;
    });
  },
  layout(v) {
    // What a person might not see: a column off the output's right edge, cut or squeezed,
    // the table scrolled or clipped by an ancestor, a chart legend running out of its SVG.
    const table = v.querySelector('.reinfer-timing-table');
    const area = v.closest('.jp-OutputArea-output') || v;
    const right = Math.min(area.getBoundingClientRect().right, window.innerWidth);
    const hiddenColumns = !table ? [] : Array.from(table.querySelectorAll('[role=columnheader]'))
      .filter(h => {
        const r = h.getBoundingClientRect();
        // The text's own width: more than its box means cut (an ellipsis, or overflow).
        const range = document.createRange();
        range.selectNodeContents(h);
        const text = range.getBoundingClientRect();
        return r.width < 4 || r.right > right + 1 || text.width > h.clientWidth + 1
          || h.scrollWidth > h.clientWidth + 1;
      })
      .map(h => h.textContent.trim());
    let clippedBy = null;
    for (let e = table && table.parentElement; e && e !== document.body; e = e.parentElement) {
      const overflow = getComputedStyle(e).overflowX;
      if (e.scrollWidth > e.clientWidth + 1 && overflow !== 'visible') {
        clippedBy = `${e.className} (overflow-x: ${overflow}, `
          + `${e.clientWidth}px < ${e.scrollWidth}px)`;
        break;
      }
    }
    const svg = v.querySelector('.reinfer-timing-chart svg');
    const box = svg ? svg.getBoundingClientRect() : {right: 0, height: 0, width: 0};
    const texts = svg ? Array.from(svg.querySelectorAll('text')) : [];
    return {
      outputRight: right,
      hiddenColumns,
      clippedBy,
      chartRight: box.right,
      chartWidth: box.width,
      chartHeight: box.height,
      chartLabels: texts.map(t => t.textContent.trim()),
      legendRight: Math.max(0, ...texts.map(t => t.getBoundingClientRect().right)),
    };
  },
  describe(name) {
    const p = window.__bt.panel(name);
    let k = 0;
    return p.content.widgets.map((cell, index) => {
      const m = cell.model;
      const area = cell.node.querySelector('.jp-Cell-outputArea');
      const code = m.type === 'code';
      return {
        index,
        type: m.type,
        source: m.sharedModel.getSource(),
        executionCount: code ? m.executionCount : null,
        outputs: code ? m.outputs.toJSON() : [],
        frames: !area ? [] : Array.from(
          area.querySelectorAll('.jp-RenderedHTMLCommon table.dataframe')).map(t => ({
            headers: Array.from(t.querySelectorAll('thead th')).map(th => th.textContent.trim()),
            rows: t.querySelectorAll('tbody tr').length,
          })),
        fallbacks: !area ? 0 : area.querySelectorAll(
          '.jp-OutputArea-output[data-mime-type="text/html"] .reinfer-timing').length,
        widgets: !area ? [] : window.__bt.timingWidgets(area).map(v => {
          const id = 'timing-widget-' + (k++);
          v.setAttribute('data-browser-test', id);
          return {
            id,
            summary: v.querySelector('.reinfer-timing-summary').textContent.trim(),
            note: (v.querySelector('.reinfer-timing-note') || {textContent: ''}).textContent.trim(),
            tabs: Array.from(v.querySelectorAll('.lm-TabBar-tabLabel, .p-TabBar-tabLabel'))
              .map(t => t.textContent.trim()),
            headers: Array.from(v.querySelectorAll('.reinfer-timing-table [role=columnheader]'))
              .map(h => h.textContent.trim()),
            // A pull is one row (its <summary>); its pages, inside <details>, are not rows.
            rows: Array.from(v.querySelectorAll(
              '.reinfer-timing-table .reinfer-timing-row:not(.reinfer-timing-page)')).map(r => {
              const cells = Array.from(r.querySelectorAll(':scope > [role=cell]'));
              const group = r.tagName === 'SUMMARY';
              return {
                cells: cells.map(c => c.textContent.trim()),
                titles: cells.map(c => c.getAttribute('title') || ''),
                group,
                open: group && r.parentElement.open,
                pages: group ? Array.from(r.parentElement.querySelectorAll('.reinfer-timing-page'))
                  .filter(p => p.getBoundingClientRect().height > 0).length : 0,
              };
            }),
            chartBars: v.querySelectorAll('.reinfer-timing-chart svg g rect').length,
            ...window.__bt.layout(v),
          };
        }),
      };
    });
  },
};
"""


@dataclass
class LabRun:
    """What the run of the notebook in the browser showed."""

    notebook: str
    origin: str
    run_all: dict[str, Any] = field(default_factory=dict)
    cells: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)  # the kernel's timing log
    kernel_python: str = ""
    kernel_error: str = ""  # why the kernel's timing log could not be read
    widget_error: str = ""  # why the widget checks could not be made
    live: dict[str, Any] = field(default_factory=dict)
    pull: dict[str, Any] = field(default_factory=dict)  # the --all pull made for the screenshot
    console: list[dict[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    phases: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"LabRun({self.notebook!r}, {len(self.cells)} cells, {len(self.calls)} calls)"

    def widgets(self) -> list[dict[str, Any]]:
        return [w for cell in self.cells for w in cell["widgets"]]

    def timing_cells(self) -> list[dict[str, Any]]:
        """Cells showing the widget: a bare ``%reinfer_timing`` line."""
        return [
            c for c in self.cells
            if c["type"] == "code" and any(
                re.fullmatch(r"%reinfer_timing\s*", line.strip())
                for line in c["source"].splitlines()
            )
        ]


# --------------------------------------------------------------------------- the run


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRun]:
    reason = bs.skip_reason()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")
    from playwright.sync_api import sync_playwright

    base = tmp_path_factory.mktemp("jupyterlab")
    notebook, origin = bs.prepare_root(base / "root")
    bs.log(f"notebook: {origin}")
    if "fallback" in origin:
        warnings.warn(f"browser test: running {origin}", UserWarning, stacklevel=1)
    run = LabRun(notebook=notebook.name, origin=origin)
    started = time.monotonic()

    def phase(name: str) -> None:
        run.phases[name] = round(time.monotonic() - started, 1)
        bs.log(f"{name} at {run.phases[name]}s")

    with bs.jupyterlab(base / "root", base / "home") as lab:
        phase("jupyterlab up")
        page_config = lab.page_config()
        assert page_config.get("exposeAppInBrowser") is True, "LabApp config not applied"
        assert page_config.get("news", {}).get("disabled") is True, "news feed not disabled"
        try:
            with sync_playwright() as playwright, bs.launch_chromium(playwright) as browser:
                # A desktop window: the widget's widest table (60-character paths) fits.
                context = browser.new_context(viewport=VIEWPORT)
                context.set_default_timeout(30_000)
                page = context.new_page()
                page.add_init_script(INIT_SCRIPT)
                page.on("console", lambda m: run.console.append(
                    {"type": m.type, "text": m.text, "url": m.location.get("url", "")}))
                page.on("pageerror", lambda e: run.console.append(
                    {"type": "pageerror", "text": str(e), "url": ""}))
                page.on("request", lambda r: run.requests.append(r.url))
                _run_notebook(page, lab, run, phase)
                context.close()
        finally:
            bs.log(f"JupyterLab log (tail):\n{lab.log_tail(25)}")
    phase("stopped")
    yield run


def _run_notebook(page: Any, lab: bs.JupyterLab, run: LabRun, phase: Any) -> None:
    name = run.notebook
    page.goto(lab.url(f"lab/tree/{name}"), timeout=APP_LOAD * 1000)
    page.wait_for_function("n => window.__bt.panel(n)", arg=name, timeout=APP_LOAD * 1000)
    page.evaluate(
        """async n => { await window.jupyterapp.restored; const p = window.__bt.panel(n);
           await p.context.ready; await p.sessionContext.ready; }""",
        name,
    )
    page.wait_for_function(
        "n => window.__bt.kernelStatus(n) === 'idle'", arg=name, timeout=KERNEL_READY * 1000
    )
    phase("notebook open, kernel idle")

    # Run > Run All Cells, as the menu does; the promise settles when every cell has run.
    page.evaluate(
        """n => { const app = window.jupyterapp; app.shell.activateById(window.__bt.panel(n).id);
           window.__btRunAll = {done: false};
           app.commands.execute('notebook:run-all-cells').then(
             r => { window.__btRunAll = {done: true, ok: r}; },
             e => { window.__btRunAll = {done: true, ok: false, error: String(e)}; }); }""",
        name,
    )
    try:
        page.wait_for_function(
            """n => window.__btRunAll.done && window.__bt.kernelStatus(n) === 'idle'
                   && window.__bt.busyPrompts(n) === 0""",
            arg=name, timeout=RUN_ALL * 1000, polling=500,
        )
    except PlaywrightTimeoutError:
        _save_page(page, "run_all_timeout")
        raise
    run.run_all = page.evaluate("() => window.__btRunAll")
    phase(f"run all done ({run.run_all})")

    run.cells = page.evaluate("n => window.__bt.describe(n)", name)
    if not run.run_all.get("ok"):
        _save_page(page, "run_all_failed")

    # The kernel's own record of the calls, read through its connection file.
    with bs.kernel_client(lab, name) as kc:
        try:
            run.calls, run.kernel_python = _kernel_calls(kc)
        except KERNEL_ERRORS as err:  # the tests report it, with the cells' errors
            run.kernel_error = str(err)
            run.widget_error = f"the kernel's timing log could not be read: {err}"
            return
        phase(f"kernel log read: {len(run.calls)} calls")
        if not run.timing_cells():
            run.widget_error = "the notebook has no bare %reinfer_timing cell"
            return
        if not any(WIDGET_VIEW in o.get("data", {})
                   for c in run.timing_cells() for o in c["outputs"]):
            run.widget_error = "no %reinfer_timing cell sent a widget view (see its outputs)"
            return
        # The widget redraws on a timer: wait until it shows every call of the log.
        try:
            page.wait_for_function(
                "([n, calls]) => window.__bt.widgetsShow(n, calls)",
                arg=[name, len(run.calls)], timeout=WIDGET_SETTLE * 1000, polling=250,
            )
        except PlaywrightTimeoutError as err:  # the tests report what was seen instead
            run.widget_error = (
                f"no live timing widget showing {len(run.calls)} calls within "
                f"{WIDGET_SETTLE}s: {str(err).splitlines()[0]}"
            )
        run.cells = page.evaluate("n => window.__bt.describe(n)", name)
        phase("widget settled")
        widgets = run.widgets()
        if widgets:
            _check_live_update(page, kc, run)
            phase("live update checked")
            _show_a_pull(page, kc, run)
            phase(f"pull shown ({run.pull.get('calls')} calls)")
            final = [w for c in page.evaluate("n => window.__bt.describe(n)", name)
                     for w in c["widgets"]]
            run.pull["widgets"] = final
            if final:
                _screenshot(page, final[-1]["id"], run)
    _save_page(page, "notebook")


def _kernel_calls(kc: Any) -> tuple[list[dict[str, Any]], str]:
    """Every call of the kernel's timing log (``%reinfer_timing -o``), oldest first."""
    values = bs.run_in_kernel(
        kc,
        "_ = get_ipython().run_line_magic('reinfer_timing', '-o _browser_test_timings')",
        {
            "calls": "_browser_test_timings[['started_at', 'method', 'path', 'http_status', "
                     "'outcome', 'attempt']].to_json(orient='records', date_format='iso', "
                     "date_unit='us')",
            "python": "__import__('sys').executable",
            # Which pull (and page) each call belongs to: the widget groups by it.
            "pulls": "[[r.pull, r.page] for r in get_ipython().magics_manager"
                     ".registry['ReinferMagics'].timing_log.records]",
        },
    )
    bs.run_in_kernel(kc, "del _browser_test_timings")
    calls = json.loads(ast.literal_eval(values["calls"]))
    for call, (pull, page) in zip(calls, ast.literal_eval(values["pulls"]), strict=True):
        call.update(pull=pull, page=page)
    return calls, ast.literal_eval(values["python"])


def _check_live_update(page: Any, kc: Any, run: LabRun) -> None:
    """One more call from the kernel: a live widget shows it without re-running its cell."""
    ok_gets = [c for c in run.calls if c["method"] == "GET" and c["outcome"] == "ok"]
    if not ok_gets:
        run.live = {"error": "the notebook made no successful GET to repeat"}
        return
    plain = [c for c in ok_gets if "?" not in c["path"]]  # a listing, with no parameters
    path = (plain or ok_gets)[-1]["path"]
    before = len(run.calls)
    bs.run_in_kernel(
        kc,
        "from reinfer_nb.errors import ReinferError\n"
        "try:\n"
        f"    _ = get_ipython().run_line_magic('reinfer_get', '--raw ' + {path!r})\n"
        "except ReinferError as err:\n"
        "    print('browser test call failed:', err)\n",
    )
    after, _ = _kernel_calls(kc)
    run.live = {"path": path, "calls_before": before, "calls_after": len(after)}
    try:
        page.wait_for_function(
            "([n, calls]) => window.__bt.widgetsShow(n, calls)",
            arg=[run.notebook, len(after)], timeout=LIVE_UPDATE * 1000, polling=250,
        )
        run.live["updated"] = True
    except PlaywrightTimeoutError as err:
        run.live["updated"] = False
        run.live["error"] = str(err).splitlines()[0]
    widgets = [w for c in page.evaluate("n => window.__bt.describe(n)", run.notebook)
               for w in c["widgets"]]
    run.live["summaries"] = [w["summary"] for w in widgets]
    # The newest call is the first or the last row, whichever way the table is sorted.
    run.live["end_rows"] = [
        [_row(w, w["rows"][0])["path"], _row(w, w["rows"][-1])["path"]] if w["rows"] else []
        for w in widgets
    ]


PULL_CODE = """\
from reinfer_nb.magics import get_client as _get_client
_source = _get_client().get('/api/v1/sources').data['sources'][0]
_ = get_ipython().run_cell_magic(
    'reinfer_get', '--all --limit 200 -o _browser_test_pull',
    f"/api/_private/sources/{_source['owner']}/{_source['name']}/comments\\nlimit: 50")
del _browser_test_pull, _source, _get_client
"""


def _show_a_pull(page: Any, kc: Any, run: LabRun) -> None:
    """An --all pull of 4 pages from the kernel; its row in the widget is then opened."""
    bs.run_in_kernel(kc, PULL_CODE)
    calls, _ = _kernel_calls(kc)
    pulled = [c for c in calls if c["pull"] is not None]
    run.pull = {"calls": len(calls), "pull_calls": len(pulled),
                "pages": len({c["page"] for c in pulled}), "kernel_calls": calls}
    try:
        page.wait_for_function(
            "([n, calls]) => window.__bt.widgetsShow(n, calls)",
            arg=[run.notebook, len(calls)], timeout=LIVE_UPDATE * 1000, polling=250,
        )
        widgets = [w for c in page.evaluate("n => window.__bt.describe(n)", run.notebook)
                   for w in c["widgets"]]
        summary = page.locator(
            f'[{WIDGET_ATTR}="{widgets[-1]["id"]}"] details.reinfer-timing-group > summary'
        ).last
        summary.scroll_into_view_if_needed()
        summary.click()
        page.wait_for_function(
            "id => document.querySelector(`[data-browser-test=\"${id}\"] "
            "details.reinfer-timing-group[open]`) !== null",
            arg=widgets[-1]["id"], timeout=LIVE_UPDATE * 1000,
        )
        run.pull["opened"] = True
    except PlaywrightTimeoutError as err:
        run.pull["opened"] = False
        run.pull["error"] = str(err).splitlines()[0]


def _screenshot(page: Any, widget_id: str, run: LabRun) -> None:
    bs.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    element = page.locator(f'[{WIDGET_ATTR}="{widget_id}"]')
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(SCREENSHOT), animations="disabled")
    run.screenshot = SCREENSHOT
    bs.log(f"screenshot of the timing widget: {SCREENSHOT}")


def _save_page(page: Any, name: str) -> None:
    """A full-page screenshot for the record (and for diagnosing a failure)."""
    try:
        bs.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(bs.ARTIFACTS / f"lab_{name}.png"))
    except PlaywrightError as err:  # diagnostics only: the tests report the real failure
        bs.log(f"page screenshot failed: {err!r}")


# --------------------------------------------------------------------------- helpers


def _code_cells(run: LabRun) -> list[dict[str, Any]]:
    return [c for c in run.cells if c["type"] == "code"]


def _short(source: str) -> str:
    first = source.strip().splitlines()[0] if source.strip() else ""
    return first[:80]


def _shows_frame(source: str) -> bool:
    """A cell that is just a GET/POST magic call, so its answer is shown as a DataFrame."""
    text = source.strip()
    if not text:
        return False
    lines = text.splitlines()
    first = lines[0]
    if "--raw" in first:
        return False
    if re.match(r"%%reinfer_(get|post)\b", first):
        return True
    return len(lines) == 1 and bool(re.match(r"%reinfer_(get|post)\b", first)) \
        and not first.rstrip().endswith(";")


def _row(widget: dict[str, Any], row: dict[str, Any]) -> dict[str, str]:
    """A row of the widget's table by column name. The time and the path are the whole
    ones of their cells' titles (``YYYY-MM-DD HH:MM:SS.fff``, less the date; a pull's
    first path)."""
    out = {}
    for i, header in enumerate(widget["headers"]):
        if i >= len(row["cells"]):
            continue
        title = row["titles"][i]
        if header == "time" and title:
            out[header] = title[11:]
        elif header == "path" and title:
            out[header] = title.split(": ", 1)[1] if row.get("group") else title
        else:
            out[header] = row["cells"][i]
    return out


def _grouped(calls: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The calls as the widget's rows: the consecutive calls of one pull make one row."""
    rows: list[list[dict[str, Any]]] = []
    for call in calls:
        if rows and call.get("pull") is not None and rows[-1][-1].get("pull") == call["pull"]:
            rows[-1].append(call)
        else:
            rows.append([call])
    return rows


def _shows_call(row: dict[str, str], calls: list[dict[str, Any]]) -> bool:
    """The row shows these calls (one, or a pull's): the first's method, full path and
    start time (UTC), the last one's status."""
    first, last = calls[0], calls[-1]
    status = str(last["http_status"] if last["http_status"] is not None else last["outcome"])
    clock = first["started_at"][11:23]  # HH:MM:SS.fff of the ISO start time, in UTC
    return (
        (row.get("method"), row.get("path")) == (first["method"], first["path"])
        and row.get("status", "").startswith(status)
        and bool(row.get("time")) and clock.startswith(row["time"])
    )


def _count(summary: str) -> int | None:
    match = re.search(r"([\d,]+) calls?\b", summary)
    return int(match.group(1).replace(",", "")) if match else None


# --------------------------------------------------------------------------- the tests


def test_notebook_runs_without_errors(lab_run: LabRun) -> None:
    print(f"notebook: {lab_run.origin}; phases: {lab_run.phases}")
    print(f"kernel python: {lab_run.kernel_python}")
    errors = [
        (c["index"], _short(c["source"]), f"{o.get('ename')}: {o.get('evalue')}")
        for c in _code_cells(lab_run) for o in c["outputs"] if o.get("output_type") == "error"
    ]
    assert errors == [], f"cells with an error output: {errors}"
    not_run = [(c["index"], _short(c["source"])) for c in _code_cells(lab_run)
               if c["source"].strip() and c["executionCount"] is None]
    assert not_run == [], f"cells not executed: {not_run}"
    assert lab_run.run_all.get("ok") is True, f"Run All Cells reported {lab_run.run_all}"
    assert lab_run.kernel_error == "", lab_run.kernel_error
    # Text a person reads as a problem (warnings, tracebacks) on stderr.
    alarming = [
        (c["index"], o.get("text", "")[:300]) for c in _code_cells(lab_run)
        for o in c["outputs"]
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
        and re.search(r"Traceback|Error|Warning", o.get("text", ""))
    ]
    assert alarming == [], f"warnings or errors on stderr: {alarming}"
    # The kernel is the venv's interpreter (the python3 kernelspec of this environment).
    assert Path(lab_run.kernel_python).parent == Path(sys.executable).parent


def test_dataframes_rendered_as_tables(lab_run: LabRun) -> None:
    frames = [f for c in lab_run.cells for f in c["frames"]]
    assert frames, "no DataFrame table (table.dataframe) rendered in any output"
    assert any("name" in f["headers"] for f in frames), (
        f"no rendered DataFrame has a 'name' column: {[f['headers'][:8] for f in frames]}"
    )
    missing = [
        (c["index"], _short(c["source"])) for c in _code_cells(lab_run)
        if _shows_frame(c["source"]) and not c["frames"]
    ]
    assert missing == [], f"magic calls whose answer is not rendered as a table: {missing}"
    empty = [(c["index"], _short(c["source"])) for c in lab_run.cells
             for f in c["frames"] if f["rows"] == 0]
    assert empty == [], f"empty DataFrame tables: {empty}"


def test_timing_widget_is_live_not_fallback(lab_run: LabRun) -> None:
    cells = lab_run.timing_cells()
    assert cells, "the notebook has no %reinfer_timing cell"
    for cell in cells:
        mimes = [set(o.get("data", {})) for o in cell["outputs"]]
        assert any(WIDGET_VIEW in m for m in mimes), (
            f"cell {cell['index']} sent no widget view: output types {mimes}"
        )
        assert cell["widgets"], (
            f"cell {cell['index']}: no live widget view rendered "
            f"({cell['fallbacks']} static fallback(s) shown instead); {lab_run.widget_error}"
        )
        assert cell["fallbacks"] == 0, f"cell {cell['index']} shows the static fallback too"
    for widget in lab_run.widgets():
        assert widget["summary"] and widget["rows"], f"the widget shows no calls: {widget}"
        assert widget["chartBars"] > 0, "the widget's chart has no bars"


def test_timing_widget_rows_match_the_calls(lab_run: LabRun) -> None:
    calls = lab_run.calls
    assert not lab_run.kernel_error, lab_run.kernel_error
    assert calls, "the kernel's timing log is empty: the notebook made no call?"
    widgets = lab_run.widgets()
    assert widgets, f"no live timing widget: {lab_run.widget_error}"
    for widget in widgets:
        assert _count(widget["summary"]) == len(calls), (
            f"summary {widget['summary']!r} but the kernel logged {len(calls)} calls"
        )
        for column in ("#", "time", "method", "path", "status", "client ms"):
            assert column in widget["headers"], widget["headers"]
        # The table shows the latest rows (at most 20, the widget's default): one per call,
        # or per pull; oldest first or newest first.
        rows = [_row(widget, r) for r in widget["rows"]]
        expected = _grouped(calls)
        assert len(rows) == min(len(expected), 20), f"{len(rows)} rows for {len(calls)} calls"
        latest = expected[len(expected) - len(rows):]
        in_order = all(map(_shows_call, rows, latest))
        reversed_order = all(map(_shows_call, rows, reversed(latest)))
        assert in_order or reversed_order, (
            "the widget's rows are not the latest calls of the kernel's log:\n"
            + "\n".join(f"  row {r}" for r in rows)
            + "\n" + "\n".join(f"  call {c}" for c in latest)
        )


def test_timing_widget_updates_live(lab_run: LabRun) -> None:
    live = lab_run.live
    assert lab_run.widgets(), f"no live timing widget: {lab_run.widget_error}"
    assert live.get("calls_after", 0) > live.get("calls_before", 0), live
    assert live.get("updated") is True, f"the widget did not show the new call: {live}"
    assert all(live["path"] in ends for ends in live["end_rows"]), live


def test_timing_widget_screenshot_saved(lab_run: LabRun) -> None:
    assert lab_run.screenshot is not None, f"no widget to screenshot: {lab_run.widget_error}"
    data = lab_run.screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    print(f"screenshot {lab_run.screenshot} is {width}x{height}")
    assert width > 300 and height > 100, (width, height)
    # A layout defect a person would see: the chart's legend cut off by its SVG.
    for widget in lab_run.widgets():
        assert widget["legendRight"] <= widget["chartRight"] + 1, (
            f"the chart's legend ends at {widget['legendRight']:.0f}px but the SVG at "
            f"{widget['chartRight']:.0f}px"
        )


def test_timing_widget_in_a_1000px_window_groups_a_pull(lab_run: LabRun) -> None:
    """What the screenshot shows: the pull's pages as one row (opened: its pages below it),
    every column readable inside the output, a chart with words on its axes and legend."""
    pull = lab_run.pull
    assert pull.get("widgets"), f"no widget after the pull: {pull} {lab_run.widget_error}"
    assert (pull["pull_calls"], pull["pages"]) == (4, 4), {k: pull[k] for k in pull
                                                           if k != "kernel_calls"}
    assert pull.get("opened") is True, pull.get("error")
    widget = pull["widgets"][-1]
    print(f"widget after the pull: {widget['summary']!r}; headers {widget['headers']}; "
          f"output right edge {widget['outputRight']:.0f}px; chart "
          f"{widget['chartWidth']:.0f}x{widget['chartHeight']:.0f}px")
    groups = [r for r in widget["rows"] if r["group"]]
    assert len(groups) == 1 and groups[0]["open"] and groups[0]["pages"] == 4, widget["rows"]
    path = widget["headers"].index("path")
    assert "4 pages" in groups[0]["cells"][path]
    assert _shows_call(_row(widget, groups[0]), _grouped(pull["kernel_calls"])[-1])
    # One endpoint: no host column. All the others on screen and not cut.
    assert widget["headers"] == ["#", "time", "method", "path", "status", "server ms",
                                 "network ms", "client ms"]
    assert widget["hiddenColumns"] == [], widget["hiddenColumns"]
    assert widget["clippedBy"] is None, widget["clippedBy"]
    assert widget["outputRight"] <= VIEWPORT["width"]
    labels = widget["chartLabels"]
    assert "time per call (ms)" in labels and "calls, oldest to newest" in labels
    assert any(label.startswith("server: ") for label in labels)
    assert any(label.startswith("network: ") for label in labels)
    assert 120 <= widget["chartHeight"] <= 320
    assert widget["chartRight"] <= widget["outputRight"] + 1
    assert widget["tabs"] == ["Calls", "By path"]


def test_no_browser_console_errors(lab_run: LabRun) -> None:
    for message in lab_run.console:
        if message["type"] in ("warning", "error", "pageerror"):
            print(f"console {message['type']}: {message['text'][:300]}")
    errors = [m for m in lab_run.console if m["type"] in ("error", "pageerror")]
    assert errors == [], f"browser console errors: {errors}"


def test_page_stays_on_loopback(lab_run: LabRun) -> None:
    outside = sorted({
        url for url in lab_run.requests
        if urlsplit(url).scheme in ("http", "https", "ws", "wss")
        and urlsplit(url).hostname not in ("127.0.0.1", "localhost")
    })
    assert outside == [], f"the page fetched from off loopback: {outside}"

