"""Binder: the image repo2docker would build from ``binder/``, checked without Docker.

Binder cannot be reached from the tests, so :func:`test_binder_environment_runs_every_notebook`
does what repo2docker does with this repository: copy it, create a fresh Python
environment, run ``pip install -r binder/requirements.txt`` from the copy's root, then
execute every tutorial in that environment (its own Python as the kernel, the package as
installed there, not this checkout) and scan the results for secrets. It needs the package
index (PyPI or the configured mirror); it is skipped, saying so, when that is unreachable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIRST_TUTORIAL = "notebooks/01_getting_started.ipynb"
INSTALL_TIMEOUT = 1200
RUN_TIMEOUT = 600
# Captured at import, before the autouse fixture scrubs proxies: pip needs the real ones.
_ENVIRON = dict(os.environ)
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache",
    ".hypothesis", ".ipynb_checkpoints", "node_modules", "benchmarks",
)


# ----------------------------------------------------------------------------- configuration


def test_requirements_install_this_repository() -> None:
    lines = [line.split("#", 1)[0].strip() for line in
             (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    local = [line for line in lines if line.startswith((".", "-e ."))]
    # A local reference makes repo2docker copy the whole repository before installing.
    assert local == [".[lab]"], lines


def test_runtime_matches_the_package() -> None:
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match and int(match.group(1)) >= 10  # pyproject: requires-python >= 3.10


def test_no_configuration_outside_binder_is_relied_on() -> None:
    # With a binder/ folder, repo2docker ignores root-level configuration: everything the
    # image needs must be in binder/.
    assert sorted(p.name for p in BINDER.iterdir()) == ["README.md", "requirements.txt",
                                                        "runtime.txt"]


def test_readme_launch_link() -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("no README.md yet")
    text = readme.read_text(encoding="utf-8")
    links = re.findall(r"https://mybinder\.org/v2/gh/([^/\s]+/[^/\s]+)/([^?\s)]+)\?urlpath=([^\s)]+)",
                       text)
    if not links:
        pytest.skip("README.md has no Binder link yet")
    repos = {repo for repo, _, _ in links}
    assert len(repos) == 1, f"the repository's owner/name should appear once: {repos}"
    for _, _, urlpath in links:
        assert urlpath.startswith("lab/tree/")
        assert (ROOT / urlpath.removeprefix("lab/tree/")).is_file(), urlpath
    assert any(urlpath == f"lab/tree/{FIRST_TUTORIAL}" for _, _, urlpath in links)
    assert len(re.findall(r"mybinder\.org/v2/gh/", text)) == 1, "define the link once"


# ----------------------------------------------------------------------------- the build


def _index_url() -> str:
    """The package index pip will use: PIP_INDEX_URL, pip's configuration, or PyPI."""
    url = _ENVIRON.get("PIP_INDEX_URL")
    if not url:
        done = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                              capture_output=True, text=True, timeout=60, env=_ENVIRON)
        urls = [m.group(2) for m in re.finditer(r"^[\w:]*\.(extra-)?index-url='([^']+)'",
                                                  done.stdout, re.MULTILINE) if not m.group(1)]
        url = urls[0] if urls else None
    return url or "https://pypi.org/simple/"


def _reachable(url: str) -> str | None:
    """None if the index answers within a few seconds, else why not."""
    if url.startswith("file:"):
        return None
    probe = url.rstrip("/") + "/pip/"
    handlers = [urllib.request.ProxyHandler({k.split("_")[0].lower(): v for k, v in _ENVIRON.items()
                                             if k.lower() in ("http_proxy", "https_proxy")})]
    try:
        with urllib.request.build_opener(*handlers).open(probe, timeout=8) as answer:
            answer.read(1)
    except (urllib.error.URLError, OSError) as exc:
        return f"{probe}: {exc}"
    return None


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}\n--- stdout\n{done.stdout[-4000:]}"
        f"\n--- stderr\n{done.stderr[-4000:]}"
    )
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT + RUN_TIMEOUT * len(NOTEBOOKS))
def test_binder_environment_runs_every_notebook(tmp_path: Path) -> None:
    index = _index_url()
    problem = _reachable(index)
    if problem:
        pytest.skip(f"cannot reach the package index to build the Binder environment: {problem}")

    repo = tmp_path / "repo"  # repo2docker works on a copy of the repository
    shutil.copytree(ROOT, repo, ignore=_COPY_IGNORE)
    venv = tmp_path / "venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # Nothing of this checkout may leak in: no PYTHONPATH, no REINFER_* settings.
    env = {k: v for k, v in _ENVIRON.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("REINFER_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=env, timeout=300)
    # As repo2docker's python buildpack: from the repository root, binder/requirements.txt.
    _run([str(python), "-m", "pip", "install", "-r", "binder/requirements.txt"],
         cwd=repo, env=env, timeout=INSTALL_TIMEOUT)
    # repo2docker's base environment brings the kernel; nbclient is only the test's runner.
    _run([str(python), "-m", "pip", "install", "nbclient", "ipykernel"],
         cwd=repo, env=env, timeout=INSTALL_TIMEOUT)

    # The package comes from the new environment, not from this checkout.
    where = _run([str(python), "-c", "import reinfer_nb, sys; print(reinfer_nb.__file__); "
                  "print(sys.prefix)"], cwd=tmp_path, env=env, timeout=120).split()
    assert where[0].startswith(str(venv)) and where[1] == str(venv), where
    _run([str(python), "-c", "import jupyterlab, matplotlib, ipywidgets, pandas"],
         cwd=tmp_path, env=env, timeout=120)

    executed = tmp_path / "executed"
    for notebook in NOTEBOOKS:
        out = _run([str(python), "-m", "reinfer_nb.demo", "--quiet", "--notebook",
                    str(repo / "notebooks" / notebook.name), "--save",
                    str(executed / notebook.name)],
                   cwd=tmp_path, env=env, timeout=RUN_TIMEOUT)
        assert "code cells ran in" in out, out
    _run([str(python), "-m", "reinfer_nb.scan", str(executed)], cwd=tmp_path, env=env,
         timeout=120)
