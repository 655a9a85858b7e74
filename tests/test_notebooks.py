"""The tutorials, executed top to bottom in a real kernel against the embedded sandbox.

Each notebook runs once per session (nbclient, this interpreter's ipykernel) with no
``REINFER_*`` settings and an empty contexts file, as on a fresh machine or on Binder.
Then the outputs are checked, and the executed notebooks are scanned for secrets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from reinfer_nb.demo import ERROR_TAG, NotebookRun, run_notebook, sandbox_env
from reinfer_nb.scan import main as scan_main
from reinfer_nb.scan import scan_notebook

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NAMES = [path.name for path in NOTEBOOKS]
CELL_TIMEOUT = 180
# What each tutorial must show once executed, besides DataFrames.
TIMING_TABLE = {"01_getting_started.ipynb", "03_errors_and_timing.ipynb"}
PLOTS = {"03_errors_and_timing.ipynb", "04_analysing_comments.ipynb",
         "05_millions_of_comments.ipynb"}
SUMMARY_LINE = re.compile(r"\d+ calls; server median [\d.]+ ms")


@pytest.fixture(scope="session")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, NotebookRun]]:
    """Every tutorial executed once; the executed copies are in the returned folder."""
    out = tmp_path_factory.mktemp("executed")
    work = tmp_path_factory.mktemp("kernel-cwd")
    env = sandbox_env(contexts_file=str(work / "contexts.json"))
    runs = {}
    for path in NOTEBOOKS:
        run = run_notebook(path, workdir=work, env=env, timeout=CELL_TIMEOUT)
        runs[path.name] = run
        nbformat.write(run.nb, out / path.name)
    timings = ", ".join(f"{name} {run.seconds:.1f} s" for name, run in runs.items())
    print(f"\nnotebook run times on the sandbox: {timings}")
    return out, runs


def outputs(nb: Any) -> list[tuple[int, Any]]:
    return [(i, out) for i, cell in enumerate(nb.cells) for out in cell.get("outputs", [])]


def text_of(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def html_outputs(nb: Any) -> list[str]:
    return [text_of(out["data"]["text/html"]) for _, out in outputs(nb)
            if "text/html" in out.get("data", {})]


def test_there_are_five_tutorials() -> None:
    assert NAMES == [
        "01_getting_started.ipynb",
        "02_dev_and_prod.ipynb",
        "03_errors_and_timing.ipynb",
        "04_analysing_comments.ipynb",
        "05_millions_of_comments.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_notebooks_are_clean_nbformat_4(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert raw["nbformat"] == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit notebooks clean"
            assert "execution" not in cell.metadata
        elif ERROR_TAG in cell.metadata.get("tags", []):
            pytest.fail("only code cells can be tagged raises-exception")
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("name", NAMES)
def test_runs_top_to_bottom_on_the_sandbox(executed: tuple[Path, dict[str, NotebookRun]],
                                           name: str) -> None:
    run = executed[1][name]
    code_cells = [i for i, c in enumerate(run.nb.cells) if c.cell_type == "code"]
    assert run.ok, f"{name}: {run.error!r}; failed cells: {run.failures}"
    # Every code cell answered, and the reply status is what the tag says: failing demos
    # really fail on the sandbox, every other cell succeeds.
    assert [c.index for c in run.cells] == code_cells
    for cell in run.cells:
        expected = "error" if cell.tagged else "ok"
        assert cell.status == expected, f"{name} cell {cell.index + 1}: {cell.status} {cell.evalue}"
    # Error outputs appear only in tagged cells, and show one line, not a traceback.
    for index, out in outputs(run.nb):
        if out["output_type"] == "error":
            assert ERROR_TAG in run.nb.cells[index].metadata.get("tags", [])
            assert len(out["traceback"]) == 1 and "Traceback" not in out["traceback"][0]
    assert run.kernel_argv[0] == sys.executable


@pytest.mark.parametrize("name", NAMES)
def test_says_it_is_using_the_sandbox(executed: tuple[Path, dict[str, NotebookRun]],
                                      name: str) -> None:
    nb = executed[1][name].nb
    printed = "".join(text_of(out.get("text", "")) for _, out in outputs(nb))
    assert "[embedded sandbox: sample data, not a real tenant]" in printed
    assert "Using the EMBEDDED SANDBOX" in printed
    intro = text_of(nb.cells[0].source)
    assert "sandbox" in intro.lower()


@pytest.mark.parametrize("name", NAMES)
def test_outputs_contain_dataframes(executed: tuple[Path, dict[str, NotebookRun]],
                                    name: str) -> None:
    frames = [h for h in html_outputs(executed[1][name].nb)
              if "<table" in h and re.search(r'class="[^"]*\bdataframe\b', h)]
    assert len(frames) >= 3


@pytest.mark.parametrize("name", sorted(TIMING_TABLE))
def test_outputs_contain_the_timing_table(executed: tuple[Path, dict[str, NotebookRun]],
                                          name: str) -> None:
    nb = executed[1][name].nb
    tables = [h for h in html_outputs(nb) if 'class="reinfer-timing-table"' in h]
    assert tables and all("<td" in t and "server ms" in t for t in tables)
    printed = "".join(text_of(out.get("text", "")) for _, out in outputs(nb))
    assert SUMMARY_LINE.search(printed)


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_outputs_contain_plots(executed: tuple[Path, dict[str, NotebookRun]], name: str) -> None:
    images = [out for _, out in outputs(executed[1][name].nb)
              if "image/png" in out.get("data", {})]
    assert images


def test_analysis_pages_through_thousands_of_comments(
    executed: tuple[Path, dict[str, NotebookRun]],
) -> None:
    nb = executed[1]["04_analysing_comments.ipynb"].nb
    printed = "".join(text_of(out.get("text", "")) for _, out in outputs(nb))
    match = re.search(r"([\d,]+) comments in (\d+) pages, complete: True", printed)
    assert match, printed[:2000]
    assert int(match.group(1).replace(",", "")) >= 5000 and int(match.group(2)) > 10


def test_millions_tutorial_resumes_and_answers_in_sql(
    executed: tuple[Path, dict[str, NotebookRun]],
) -> None:
    """Tutorial 05: the broken pull is resumed fetching only what was missing, and every
    comment is in the Parquet files exactly once (counted by DuckDB)."""
    nb = executed[1]["05_millions_of_comments.ipynb"].nb
    printed = "".join(text_of(out.get("text", "")) for _, out in outputs(nb))
    match = re.search(r"The resume fetched (\d+) of the pull's (\d+) pages; ([\d,]+) comments "
                      r"in \d+ Parquet files .*complete: True", printed)
    assert match, printed[-3000:]
    fetched, pages, rows = (int(g.replace(",", "")) for g in match.groups())
    assert 0 < fetched < pages and rows >= 20_000
    counts = next(text_of(out["data"]["text/plain"]) for _, out in outputs(nb)
                  if "distinct_ids" in text_of(out.get("data", {}).get("text/plain", "")))
    assert re.search(rf"\b{rows}\s+{rows}\b", counts), counts


def test_no_token_in_executed_notebooks(executed: tuple[Path, dict[str, NotebookRun]]) -> None:
    folder, runs = executed
    assert scan_main([str(folder)]) == 0
    for name in runs:
        assert scan_notebook(folder / name) == []
        assert not re.search(r"sbx_[0-9a-f]{8}", (folder / name).read_text(encoding="utf-8"))


def test_the_scan_finds_a_token_planted_in_a_copy(
    executed: tuple[Path, dict[str, NotebookRun]], tmp_path: Path,
) -> None:
    folder, _ = executed
    copy = tmp_path / "planted.ipynb"
    shutil.copy(folder / "01_getting_started.ipynb", copy)
    nb = nbformat.read(copy, as_version=4)
    token = "sbx_" + "0123456789abcdef" * 2  # the shape of a sandbox token
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs]
    in_source, in_output = code[0], code[-1]
    nb.cells[in_source].source += f"\n# token = {token}"
    nb.cells[in_output].outputs.append(nbformat.v4.new_output(
        "stream", name="stdout", text=f"Authorization: Bearer {token}\n"))
    nbformat.write(nb, copy)

    env = {k: v for k, v in os.environ.items() if k != "REINFER_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "reinfer_nb.scan", str(copy)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cell {in_source + 1} (source): sandbox-token" in done.stdout
    assert f"cell {in_output + 1} (output): authorization" in done.stdout
    assert token not in done.stdout + done.stderr

    # The current token is found by its value too, whatever its shape.
    env["REINFER_TOKEN"] = token
    done = subprocess.run([sys.executable, "-m", "reinfer_nb.scan", str(copy)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1 and f"cell {in_source + 1} (source): token" in done.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_login_cell_runs_with_only_a_token_set(path: Path, tmp_path: Path) -> None:
    """A half-configured machine (REINFER_TOKEN without REINFER_ENDPOINT): the tutorials'
    login cell says so and runs on the sandbox, instead of failing."""
    nb = nbformat.read(path, as_version=4)
    login = next(i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and "%reinfer_login --tutorial" in c.source)
    nb.cells = nb.cells[: login + 2]  # the login cell and the cell that uses it
    copy = tmp_path / path.name
    nbformat.write(nb, copy)
    env = sandbox_env(contexts_file=str(tmp_path / "contexts.json"))
    env["REINFER_TOKEN"] = "a-token-without-an-endpoint"
    run = run_notebook(copy, workdir=tmp_path, env=env, timeout=CELL_TIMEOUT)
    assert run.ok, f"{path.name}: {run.error!r}; failed cells: {run.failures}"
    printed = "".join(text_of(out.get("text", "")) for _, out in outputs(run.nb))
    assert "Using the EMBEDDED SANDBOX" in printed
    assert "REINFER_TOKEN is set but REINFER_ENDPOINT is not" in printed
    assert "a-token-without-an-endpoint" not in nbformat.writes(run.nb)


@pytest.fixture(scope="session")
def on_a_tenant(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, NotebookRun]:
    """Every tutorial run against a tenant named by REINFER_ENDPOINT and REINFER_TOKEN.

    The "tenant" is the test session's sandbox, reached like a real one: the notebooks do
    not know it is a sandbox, so they take their real-tenant paths (skipping the cells that
    need fault injection or write), and the token is known here, so it can be looked for.
    """
    work = tmp_path_factory.mktemp("tenant-cwd")
    env = sandbox_env(contexts_file=str(work / "contexts.json"))
    env.update(REINFER_ENDPOINT=sandbox.url, REINFER_TOKEN=sandbox.token)
    return {path.name: run_notebook(path, workdir=work, env=env, timeout=CELL_TIMEOUT)
            for path in NOTEBOOKS}


@pytest.mark.parametrize("name", NAMES)
def test_switches_to_a_real_tenant_when_the_environment_names_one(
    on_a_tenant: dict[str, NotebookRun], sandbox: Any, name: str,
) -> None:
    run = on_a_tenant[name]
    assert run.ok, f"{name}: {run.error!r}; failed cells: {run.failures}"
    assert all(cell.status == "ok" for cell in run.cells if not cell.tagged)
    printed = "".join(text_of(out.get("text", "")) for _, out in outputs(run.nb))
    assert f"Using a REAL TENANT: {sandbox.url}" in printed
    assert "embedded sandbox" not in printed
    assert scan_notebook(run.nb, secrets=[sandbox.token]) == []
    assert sandbox.token not in nbformat.writes(run.nb)
