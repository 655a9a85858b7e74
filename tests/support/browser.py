"""Helpers for the JupyterLab browser test: a loopback JupyterLab, headless Chromium, the kernel.

* :func:`skip_reason`: why the browser test cannot run here (or ``None``).
* :func:`prepare_root`: a temporary root holding a copy of the getting-started notebook.
* :class:`JupyterLab`: ``python -m jupyter lab`` on 127.0.0.1 with its own token, config,
  data, runtime and settings directories (the venv's data path is kept, so the widgets
  labextension and the ``python3`` kernelspec are found), nothing fetched from the network.
* :func:`launch_chromium`: Debian's Chromium through Playwright (``executable_path``: Playwright
  never downloads a browser), with a fresh profile.
* :func:`kernel_client`: a client on the notebook's kernel, to read its timing log.

Every wait is bounded, and :meth:`JupyterLab.stop` ends the server and what it started
(terminate, then kill).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]  # tests/support/browser.py -> the repository
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = REPO / "notebooks" / "01_getting_started.ipynb"
ARTIFACTS = REPO / "tests" / "artifacts"

# The flags, plus --disable-quic: without it Chromium tries the network here. The
# fresh --user-data-dir is Playwright's: launch() always starts Chromium with a new
# temporary profile (and refuses a --user-data-dir argument).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]

# Settings that keep JupyterLab off the network and keep pop-ups off the notebook: no news
# feed and no update check (and no toast asking about them), a read-only extension manager
# (the PyPI one queries pypi.org). Everything else is JupyterLab's default, as users get it.
LAB_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",
        # window.jupyterapp, to run commands and read the notebook model (as Galata does).
        "expose_app_in_browser": True,
    },
}
SETTING_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/extensionmanager-extension:plugin": {"enabled": False},
}

_SCRUBBED_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_PREFER_ENV_PATH", "JUPYTER_NO_CONFIG",
)


def log(message: str) -> None:
    """A progress line (shown by pytest on failure, or with -s)."""
    print(f"[browser-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- preconditions


def skip_reason() -> str | None:
    """Why the browser test cannot run on this machine, or None when it can."""
    if not CHROMIUM.exists():
        return (
            f"no browser: {CHROMIUM} is missing (Debian's `chromium` package; .ci/run installs "
            "it when run as root with apt-get)"
        )
    if not os.access(CHROMIUM, os.X_OK):
        return f"no browser: {CHROMIUM} is not executable"
    missing = []
    for module in ("playwright.sync_api", "jupyterlab", "jupyter_client", "ipywidgets", "psutil"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module.split(".")[0])
    if missing:
        return f"not installed: {', '.join(missing)} (pip install -e '.[test]')"
    return None


# --------------------------------------------------------------------------- notebook


def fallback_notebook() -> Any:
    """A small notebook with the getting-started notebook's kind of cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# reinfer_nb in JupyterLab (the browser test's own)"),
        nbformat.v4.new_code_cell("%load_ext reinfer_nb"),
        nbformat.v4.new_code_cell("%reinfer_login --demo"),
        nbformat.v4.new_code_cell("%reinfer_get /api/v1/projects"),
        nbformat.v4.new_code_cell("%reinfer_get /api/v1/sources"),
        nbformat.v4.new_code_cell("%reinfer_timing"),
    ]
    return nb


def prepare_root(root: Path, source: Path | None = None) -> tuple[Path, str]:
    """Copy the notebook to ``root`` (the built-in one if ``source`` is missing).

    Returns the copy and a sentence saying which notebook it is. The copy is unchanged
    except for a missing kernelspec, which is set to ``python3`` (said in the sentence), so
    that JupyterLab starts the kernel instead of asking which one.
    """
    import nbformat

    source = NOTEBOOK if source is None else source
    root.mkdir(parents=True, exist_ok=True)
    if source.exists():
        nb = nbformat.read(source, as_version=4)
        origin = f"the real notebook {_shown(source)}"
        target = root / source.name
    else:
        nb = fallback_notebook()
        origin = (
            f"the BUILT-IN fallback notebook, because {_shown(source)} is missing"
        )
        target = root / "browser_test.ipynb"
    if not nb.metadata.get("kernelspec"):
        nb.metadata["kernelspec"] = {
            "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
        }
        origin += " (it had no kernelspec: python3 set in the copy)"
    nbformat.write(nb, target)
    return target, origin


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- JupyterLab


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class JupyterLab:
    """One ``jupyter lab`` subprocess on loopback, in a directory of its own."""

    root: Path
    home: Path
    port: int = 0
    token: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime_dir(self) -> Path:
        return self.home / "runtime"

    @property
    def log_path(self) -> Path:
        return self.home / "jupyterlab.log"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def environment(self) -> dict[str, str]:
        env = {
            name: value for name, value in os.environ.items()
            if not name.upper().startswith("REINFER_") and name.upper() not in _SCRUBBED_ENV
        }
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
            "IPYTHONDIR": "ipython",
        }
        for name, sub in dirs.items():
            (self.home / sub).mkdir(parents=True, exist_ok=True)
            env[name] = str(self.home / sub)
        # The kernel reads no contexts file of the person running the tests.
        env["REINFER_CONTEXTS_FILE"] = str(self.home / "contexts.json")
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env["PYTHONUNBUFFERED"] = "1"
        # The kernel imports this working tree's reinfer_nb, as the other tests do (the
        # same code as `make test`'s editable install; also when it is not installed).
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        # The venv first: the kernelspec's "python" is this interpreter.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def write_config(self) -> None:
        config = self.home / "config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        (config / "jupyter_lab_config.json").write_text(json.dumps(LAB_CONFIG, indent=1))
        (config / "labconfig" / "default_setting_overrides.json").write_text(
            json.dumps(SETTING_OVERRIDES, indent=1)
        )

    def start(self, timeout: float = 60.0, attempts: int = 3) -> None:
        """Start the server and wait until /api/status answers with the token."""
        self.token = secrets.token_hex(24)
        env = self.environment()
        self.write_config()
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            command = [
                sys.executable, "-m", "jupyter", "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--ServerApp.port_retries=0",  # our port or fail: never another one
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                "--ServerApp.open_browser=False",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command.append("--allow-root")  # CI containers run as root
            log(f"starting JupyterLab on {self.base_url} (attempt {attempt})")
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            with open(self.log_path, "ab") as out:
                self.process = subprocess.Popen(
                    command, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )
            if self._wait_ready(timeout):
                return
            if self.process.poll() is None:  # alive but not answering: give up
                break
            self.process = None
            with open(self.log_path, "rb") as out:
                out.seek(log_start)
                if b"no available port" not in out.read():
                    break  # exited for another reason than our port: see the log
            # Another process took the port between free_port() and the bind: try another.
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer on /api/status:\n{tail}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                self.api("api/status", timeout=2)
                return True
            except (OSError, ValueError):
                time.sleep(0.2)
        return False

    def api(self, path: str, timeout: float = 10.0) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/{path.lstrip('/')}",
            headers={"Authorization": f"token {self.token}"},
        )
        with _NO_PROXY.open(request, timeout=timeout) as answer:
            return json.loads(answer.read())

    def page_config(self) -> dict[str, Any]:
        """The page config JupyterLab sends to the browser (to check our settings took)."""
        import re

        with _NO_PROXY.open(self.url("lab"), timeout=15) as answer:
            page = answer.read().decode("utf-8")
        match = re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
            page, re.DOTALL,
        )
        return json.loads(match.group(1)) if match else {}

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        # The token is in the log's URLs: it is random and dies with the server, but keep
        # it out of CI output anyway.
        return "\n".join(text.splitlines()[-lines:]).replace(self.token, "<token>")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server and the kernels it started: SIGTERM, then SIGKILL."""
        process, self.process = self.process, None
        if process is None:
            return
        import psutil

        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the server shuts its kernels down
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log("JupyterLab did not stop on SIGTERM: killing it")
                process.kill()
                process.wait(10)
        for child in children:  # kernels (and anything they started) still alive
            try:
                child.terminate()
            except psutil.Error:
                pass
        _gone, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)


@contextmanager
def jupyterlab(root: Path, home: Path) -> Iterator[JupyterLab]:
    lab = JupyterLab(root=root, home=home)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


# --------------------------------------------------------------------------- Chromium


@contextmanager
def launch_chromium(playwright: Any) -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright; closed (or killed) at the end."""
    from playwright.sync_api import Error as PlaywrightError

    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        timeout=60_000,
    )
    try:
        yield browser
    finally:
        try:
            browser.close()
        except PlaywrightError as err:  # the driver will kill it when it stops
            log(f"closing Chromium failed: {err!r}")


# --------------------------------------------------------------------------- kernel


@contextmanager
def kernel_client(lab: JupyterLab, notebook_name: str, timeout: float = 30.0) -> Iterator[Any]:
    """A blocking client on the kernel of the notebook's session (its connection file)."""
    from jupyter_client import BlockingKernelClient

    sessions = lab.api("api/sessions")
    kernel_ids = [
        s["kernel"]["id"] for s in sessions
        if s.get("kernel") and Path(s.get("path", "")).name == notebook_name
    ]
    if len(kernel_ids) != 1:
        raise RuntimeError(f"expected one kernel for {notebook_name}, sessions: {sessions}")
    connection_file = lab.runtime_dir / f"kernel-{kernel_ids[0]}.json"
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        yield client
    finally:
        client.stop_channels()


def run_in_kernel(
    client: Any, code: str, expressions: dict[str, str] | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """Run ``code``; the values of ``expressions`` (evaluated afterwards) as plain text."""
    msg_id = client.execute(
        code, silent=False, store_history=False, user_expressions=expressions or {},
        allow_stdin=False,
    )
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no reply from the kernel in {timeout}s to {code!r}")
        reply = client.get_shell_msg(timeout=remaining)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    content = reply["content"]
    if content["status"] != "ok":
        raise RuntimeError(
            f"{code!r} failed in the kernel: {content.get('ename')}: {content.get('evalue')}"
        )
    values = {}
    for name, value in content.get("user_expressions", {}).items():
        if value.get("status") != "ok":
            raise RuntimeError(f"{name}: {value.get('ename')}: {value.get('evalue')}")
        values[name] = value["data"]["text/plain"]
    return values


# --------------------------------------------------------------------------- waiting


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25
) -> Any:
    """Poll ``predicate`` until it returns something truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
