"""The token never shows: reprs and strs of every public object, errors and tracebacks
(verbose ones included), ``logging`` at DEBUG, the timing log and widget, IPython's output
history and displayed outputs. It never travels: no ``Authorization`` header follows a
redirect to another origin, plain HTTP is refused off loopback, and a full URL of another
host in a cell is refused before anything is sent.

Servers here echo the ``Authorization`` header back (in error messages, HTML pages,
payloads and ``Location`` headers), as a careless proxy or platform might.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import pprint
import re
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from IPython.lib.pretty import pretty
from IPython.utils.capture import capture_output

import reinfer_nb
from reinfer_nb.client import Client
from reinfer_nb.credentials import Token, load_contexts, resolve_token, save_context
from reinfer_nb.errors import (
    ApiError,
    ConfigError,
    FetchInterrupted,
    LoginError,
    NetworkError,
    ReinferError,
)
from reinfer_nb.frames import error_frame, pages_to_frame, to_frame
from reinfer_nb.login import resolve_login

from .support.servers import (
    TOKEN,
    LoopbackServer,
    NoDns,
    Reply,
    Seen,
    api_error,
    guard_network,
    make_certificate,
    ok,
    raw,
    server_context,
)

pytestmark = pytest.mark.timeout(120)

# The token minus the 4 characters its hint shows: none of it may appear anywhere.
CORE = TOKEN[:-4]


def assert_clean(*texts: Any) -> None:
    for text in texts:
        value = text if isinstance(text, str) else repr(text)
        assert CORE not in value, f"token leaked in: {value[:300]}"


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[NoDns]:
    """No DNS: lookups of names fail in-process; a test that expects some clears them."""
    yield from guard_network(monkeypatch)


class Echo:
    """A platform that repeats whatever Authorization header it gets, everywhere it can."""

    def __init__(self) -> None:
        self.other_port = 0

    def __call__(self, request: Seen, server: LoopbackServer) -> Reply:
        auth = request.headers.get("authorization", "")
        secret = auth.removeprefix("Bearer ")
        path = request.path
        if path == "/auth/user":
            return ok({"user": {"username": "echo", "email": "echo@example.com"}})
        if path == "/api/v1/ok":
            return ok({"comments": [{"id": "a", "text": "hello"}], "continuation": None})
        if path == "/api/v1/busy":
            return api_error(503, f"busy, retry with {auth}")
        if path == "/api/v1/echo-error":
            return api_error(401, f"Invalid token {secret} (header was {auth!r})")
        if path == "/api/v1/echo-long":  # long messages are shortened: not mid-token
            return api_error(400, "x" * 280 + secret + "y" * 700)
        if path == "/api/v1/echo-payload":
            detail = {"auth": auth, "list": [secret]}
            body = json.dumps({"status": "error", "message": "bad", "detail": detail})
            return Reply(400, body.encode(), {"Content-Type": "application/json"})
        if path == "/api/v1/echo-html":
            return raw(502, f"<html><body>Proxy error for {auth}</body></html>", "text/html")
        if path == "/api/v1/echo-text":
            return raw(200, f"token={secret}", "text/plain")
        if path == "/api/v1/echo-redirect":
            target = f"http://{secret}@127.0.0.1:{self.other_port}/api/v1/ok?token={secret}"
            return Reply(302, b"", {"Location": target})
        # Successful answers that repeat it: in Server-Timing, a same-origin redirect's
        # query, the answer's body.
        if path == "/api/v1/echo-timing":
            return ok({"comments": [{"id": "t"}]},
                      **{"Server-Timing": f'total;dur=2, auth;desc="{auth}", db;desc={secret}'})
        if path == "/api/v1/echo-same-redirect":
            return Reply(302, b"", {"Location": f"/api/v1/echo-body?token={secret}"})
        if path == "/api/v1/echo-body":
            return ok({"comments": [{"id": "b", "text": f"you sent {auth}", secret: secret}],
                       "query": request.target})
        return api_error(404, f"404 Not Found ({auth})")


@pytest.fixture
def echo() -> Iterator[LoopbackServer]:
    handler = Echo()
    with LoopbackServer() as other, LoopbackServer(handler) as server:
        handler.other_port = other.port
        yield server
        assert other.connections == 0


def failures(client: Client) -> list[ReinferError]:
    """One of each kind of failure, all with the token echoed back by the server."""
    errors: list[ReinferError] = []
    for path in ("/api/v1/echo-error", "/api/v1/echo-long", "/api/v1/echo-payload",
                 "/api/v1/echo-html", "/api/v1/echo-text", "/api/v1/echo-redirect",
                 "/api/v1/echo-same-redirect", "/api/v1/busy"):
        for method in ("GET", "POST"):
            with pytest.raises(ReinferError) as info:
                client.request(method, path, json={} if method == "POST" else None)
            errors.append(info.value)
    with pytest.raises(ConfigError) as config:
        client.get("http://127.0.0.1:1/api/v1/ok")
    errors.append(config.value)
    return errors


ECHOES = ("/api/v1/echo-timing", "/api/v1/echo-body")  # successful answers echoing it


def texts_of(obj: Any) -> list[str]:
    """Every way a notebook or a debugger shows an object."""
    out = [repr(obj), str(obj), f"{obj}", pretty(obj)]
    for name in ("_repr_html_", "_repr_markdown_", "_repr_latex_"):
        method = getattr(obj, name, None)
        if callable(method):
            out.append(str(method()))
    bundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(bundle):
        out.append(repr(bundle()))
    if hasattr(obj, "__dict__"):
        out.append(pprint.pformat(vars(obj)))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out.append(repr(dataclasses.asdict(obj)))
    if isinstance(obj, BaseException):
        out.extend(traceback.format_exception(obj))
        out.extend(obj._render_traceback_() if isinstance(obj, ReinferError) else [])
        out.append(repr(getattr(obj, "payload", None)))
    attrs = getattr(obj, "attrs", None)
    if isinstance(attrs, dict):
        out.append(repr(attrs))
    return out


# --------------------------------------------------------------------------- objects


def test_reprs_and_strs_of_every_public_object(echo: LoopbackServer, ip: Any, sb: Any,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from reinfer_nb.cells import parse_body_cell, parse_query_cell
    from reinfer_nb.widgets import TimingWidget, render_timing_html

    token = Token(TOKEN)
    objects: list[Any] = [token, Token(f"Bearer {TOKEN}")]
    with Client(echo.url, TOKEN, backoff=0.01) as client:
        objects += [client, client.endpoint, client.timing_log, client.token]
        result = client.get("/api/v1/ok")
        pages = list(client.paginate("GET", "/api/v1/ok"))
        objects += [result, result.timing, *result.timing.metrics, to_frame(result),
                    to_frame(result), pages_to_frame(pages)]
        echoed = [client.get(path) for path in ECHOES]
        objects += echoed + [to_frame(result) for result in echoed]
        errors = failures(client)
        objects += errors + [error_frame(err) for err in errors]
        fetched = client.fetch_all("GET", "/api/v1/ok")
        stopped = client.fetch_all("GET", ECHOES[0], max_pages=1)
        failed = client.fetch_all("GET", "/api/v1/echo-error")
        objects += [fetched, stopped, failed, failed.error, FetchInterrupted(fetched),
                    LoginError("Login check failed.", errors[0]), client.policy,
                    resolve_login(endpoint=echo.url, token=TOKEN, environ={})]
        objects += [pages_to_frame(pages, error=errors[0]), client.timing_log.summary(),
                    client.timing_log.to_frame(), render_timing_html(client.timing_log)]
        widget = TimingWidget(client.timing_log, refresh_interval=0)
        objects += [widget, widget.get_state(), widget.rows]
        widget.close()
    objects += [parse_query_cell("/api/v1/x\nq: {t}", {"t": token}),
                parse_body_cell('/api/v1/x\n{"a": 1}', {})]
    save_context("dev", echo.url, TOKEN, path=tmp_path / "contexts.json")
    contexts = load_contexts(tmp_path / "contexts.json")
    objects += [contexts, contexts.get("dev")]
    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    ip.run_line_magic("reinfer_login", f"--endpoint {echo.url}")
    objects += [ip.magics_manager.registry["ReinferMagics"]]
    # A pull saved to Parquet: its handle, summary and manifest never hold the token.
    with Client(sb.url, sb.token) as sandbox_client:
        saved = sandbox_client.fetch_all(
            "GET", "/api/_private/sources/dev/support-emails/comments",
            params={"limit": 200}, save=tmp_path / "pull",
        )
    objects += [saved, saved.summary()]
    assert sb.token not in (tmp_path / "pull" / "_manifest.json").read_text()
    assert sb.token not in "".join(texts_of(saved))
    # The sandbox's own tokens, in its repr and str (``sb.token`` itself is public).
    sandbox_texts = [repr(sb), str(sb), pretty(sb)]
    assert sb.token not in "".join(sandbox_texts) and sb.admin_token not in "".join(sandbox_texts)

    for obj in objects:
        assert_clean(*texts_of(obj))
    # Every public class has been shown above.
    shown = {type(obj) for obj in objects}
    for name in reinfer_nb.__all__:
        value = getattr(reinfer_nb, name)
        if isinstance(value, type) and name != "Sandbox":
            assert any(issubclass(kind, value) for kind in shown), f"{name} not covered"


def test_tokens_cannot_be_pickled(echo: LoopbackServer) -> None:
    """%store and caches pickle: refusing is better than writing the secret to disk."""
    with Client(echo.url, TOKEN) as client:
        for obj in (Token(TOKEN), client):
            try:
                data = pickle.dumps(obj)
            except (TypeError, pickle.PicklingError):
                continue
            assert CORE.encode() not in data


def test_errors_and_tracebacks(echo: LoopbackServer) -> None:
    with Client(echo.url, TOKEN, backoff=0.01) as client:
        errors = failures(client)
    kinds = {(type(err).__name__, getattr(err, "reason", None)) for err in errors}
    assert {("ApiError", None), ("NetworkError", "proxy"), ("NetworkError", "not_json"),
            ("NetworkError", "redirect"), ("ConfigError", None)} <= kinds
    for err in errors:
        assert_clean(*texts_of(err), err.args, err.__cause__, err.__context__)
        assert TOKEN[4:14] not in err.message  # not even the start of it
    # The server's echo is redacted to the hint; the rest of its message is kept.
    echoed = next(e for e in errors if isinstance(e, ApiError) and e.http_status == 401)
    assert "Invalid token …TAIL" in echoed.message
    payload = next(e for e in errors if isinstance(e, ApiError) and e.http_status == 400
                   and e.path == "/api/v1/echo-payload").payload
    assert payload["detail"] == {"auth": "Bearer …TAIL", "list": ["…TAIL"]}


def test_a_token_echoed_back_is_replaced_by_its_hint(echo: LoopbackServer) -> None:
    """What the client keeps of an answer (data, url, Server-Timing) never holds the token,
    and a redirect that would put it in a URL is not followed."""
    with Client(echo.url, TOKEN) as client:
        body = client.get("/api/v1/echo-body")
        comment = body.data["comments"][0]
        assert comment == {"id": "b", "text": "you sent Bearer …TAIL", "…TAIL": "…TAIL"}
        frame = to_frame(body)
        assert list(frame["text"]) == ["you sent Bearer …TAIL"]
        timing = client.get("/api/v1/echo-timing").timing
        # An unquoted "…TAIL" is no longer a valid header token: that description is dropped.
        assert [(m.name, m.description) for m in timing.metrics] == [
            ("total", ""), ("auth", "Bearer …TAIL"), ("db", "")]
        assert timing.server_ms == 2.0
        with pytest.raises(NetworkError) as info:
            client.get("/api/v1/echo-same-redirect")
        assert info.value.reason == "redirect" and "contains the token" in info.value.message
        log = client.timing_log.to_frame().to_csv()
        assert_clean(*texts_of(body), *texts_of(frame), *texts_of(timing), log,
                     *texts_of(info.value), repr(client.timing_log.records))
    # The redirect was not followed: the token never travelled in a URL.
    assert len(echo.requests_to("/api/v1/echo-body")) == 1
    assert len(echo.requests_to("/api/v1/echo-same-redirect")) == 1


def test_errors_of_unreachable_hosts(tmp_path: Path, resolver: NoDns) -> None:
    cert, key = make_certificate(tmp_path)
    with LoopbackServer(tls=server_context(cert, key)) as tls_server:
        urls = [tls_server.url, "http://127.0.0.1:1", "https://acme.reinfer.io"]
        for url in urls:
            with Client(url, TOKEN, backoff=0.01, retries=1, timeout=0.5) as client:
                with pytest.raises(NetworkError) as info:
                    client.get("/api/v1/ok")
                assert_clean(*texts_of(info.value), *texts_of(client))
    resolver.refused.clear()


def test_bad_tokens_are_not_repeated() -> None:
    for bad in (f"{TOKEN} extra", f"{TOKEN}\n", f"{TOKEN}\x00"):
        try:
            token = Token(bad)
        except ConfigError as err:
            assert_clean(*texts_of(err))
        else:
            assert_clean(*texts_of(token))


VERBOSE_SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading
    from tests.support.servers import TOKEN
    from reinfer_nb.sandbox import start_sandbox
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    # The sandbox never answers these: each call is stopped (SIGINT) while http.client
    # waits for the answer, deep inside requests and urllib3.
    hang = {"kind": "hang", "path": "^/api/v1/projects$", "delay_ms": 20000, "times": 2}
    sandbox = start_sandbox(comments=0, token=TOKEN, faults=[hang])
    ip = InteractiveShell.instance()
    ip.run_line_magic("colors", "nocolor")
    ip.run_line_magic("xmode", "Verbose")
    ip.user_ns.update(url=sandbox.url, secret=TOKEN)
    ip.run_cell("from reinfer_nb import Client; c = Client(url, secret, timeout=20, retries=0)")
    del ip.user_ns["secret"]
    for cell in ("c.get('/api/v1/projects')", "c.fetch_all('GET', '/api/v1/projects')"):
        threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        with capture_output() as cap:
            result = ip.run_cell(cell)
        err = result.error_in_exec
        chained = err.__context__ if err.__cause__ is None else err.__cause__
        sys.stdout.write(f"RESULT {type(err).__name__} CHAINED {type(chained).__name__}\\n")
        sys.stdout.write(cap.stdout + cap.stderr)
    sandbox.stop()
""")


def test_interrupted_call_with_verbose_traceback_shows_no_token() -> None:
    """Stopping a call with %xmode Verbose prints every frame's local variables: no frame
    of requests, urllib3 or http.client (where the header lives, as text and as bytes)
    may be among them, only the client's own, which hold no token."""
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run([sys.executable, "-c", VERBOSE_SCRIPT], cwd=root, env=env,
                          capture_output=True, text=True, timeout=90)
    output = done.stdout + done.stderr
    assert "RESULT KeyboardInterrupt CHAINED NoneType" in output, output[-3000:]
    # fetch_all keeps the pages: its FetchInterrupted chains the client's fresh interrupt.
    assert "RESULT FetchInterrupted CHAINED KeyboardInterrupt" in output, output[-3000:]
    # Verbose mode did print local variables (the client's, masked).
    assert "Token('…TAIL')" in output, output[-3000:]
    frames = re.findall(r"^File (\S+?):\d+, in ", output, flags=re.MULTILINE)
    assert frames and all("/reinfer_nb/" in frame for frame in frames), frames
    for library in ("requests", "urllib3", "http/client", "socket.py"):
        assert f"/{library}" not in output, library
    assert_clean(output)


def only_client_frames(err: BaseException) -> str:
    """The traceback of ``err`` with every frame's locals (``capture_locals``), checked to
    chain nothing and to come from this package's frames only (and this test's)."""
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    text = "".join(traceback.TracebackException.from_exception(
        err, capture_locals=True).format())
    files = re.findall(r'File "([^"]+)"', text)
    assert files and all("/reinfer_nb/" in f or "/tests/" in f for f in files), files
    return text


def raised_by(call: Any) -> BaseException:
    """The exception ``call()`` raises (its traceback holds no local of the test)."""
    try:
        call()
    except (ReinferError, KeyboardInterrupt) as err:
        return err
    raise AssertionError("nothing raised")


# A bad paste: a typographic dash inside the token, and an invisible space after it.
DASHED = TOKEN[:12] + "\u2013" + TOKEN[12:]
ZERO_WIDTH = TOKEN + "\u200b"


PASTE = "the token contains a character that cannot be sent: check the paste"


@pytest.mark.parametrize(("call", "words"), [
    pytest.param(lambda: Client("http://acme.reinfer.io", TOKEN), "https",
                 id="plain-http-endpoint"),
    pytest.param(lambda: Client("http://127.0.0.1:1", DASHED), PASTE, id="dashed-token"),
    pytest.param(lambda: Client("http://127.0.0.1:1", ZERO_WIDTH), PASTE, id="zero-width-token"),
    pytest.param(lambda: Token(DASHED), PASTE, id="token"),
    pytest.param(lambda: resolve_token(environ={"REINFER_TOKEN": DASHED}), PASTE,
                 id="environment"),
    pytest.param(lambda: resolve_login(environ={"REINFER_TOKEN": DASHED,
                                                "REINFER_ENDPOINT": "http://127.0.0.1:1"}),
                 PASTE, id="login-environment"),
    pytest.param(lambda: resolve_login(endpoint="http://acme.reinfer.io", token=TOKEN,
                                       environ={"REINFER_TOKEN": TOKEN}), "https",
                 id="login-endpoint"),
    pytest.param(lambda: save_context("x", "http://127.0.0.1:1", DASHED,
                                      path="/nonexistent/contexts.json"), PASTE,
                 id="save-context-token"),
    pytest.param(lambda: save_context("x", "http://127.0.0.1:1", TOKEN,
                                      path="/proc/contexts.json"), "cannot write",
                 id="save-context-unwritable"),
    pytest.param(lambda: Client("http://127.0.0.1:1", TOKEN, max_answer_mb=-1), "max_answer_mb",
                 id="bad-option"),
])
def test_errors_before_sending_hold_no_token_in_any_frame(call: Any, words: str) -> None:
    """A refused token or option: one line saying what to do; no frame of the traceback
    (local variables included) holds the token or the bad paste."""
    err = raised_by(call)
    assert isinstance(err, ConfigError) and "\n" not in err.message
    assert words in err.message.lower()
    text = only_client_frames(err)
    for secret in (TOKEN, DASHED, ZERO_WIDTH, TOKEN[12:-4]):
        assert secret not in text, text[-2000:]


def test_failed_calls_chain_nothing_from_the_http_library(
    echo: LoopbackServer, tmp_path: Path
) -> None:
    """Refused, reset, TLS and API failures: raised by the client with no chained
    exception of requests, urllib3 or http.client, and no token in any frame."""
    cert, key = make_certificate(tmp_path)
    with LoopbackServer(tls=server_context(cert, key)) as tls_server, \
            LoopbackServer(lambda request, srv: Reply(mode="reset")) as resetting:
        for url, path in ((echo.url, "/api/v1/echo-error"), (echo.url, "/api/v1/echo-html"),
                          ("http://127.0.0.1:1", "/api/v1/ok"), (tls_server.url, "/api/v1/ok"),
                          (resetting.url, "/api/v1/ok")):
            with Client(url, TOKEN, backoff=0.01, retries=1, timeout=2) as client:
                for method in ("GET", "POST"):
                    err = raised_by(partial(client.request, method, path, json={}))
                    assert_clean(only_client_frames(err))


# --------------------------------------------------------------------------- logs


def test_logging_at_debug(
    echo: LoopbackServer, debug_logging: pytest.LogCaptureFixture
) -> None:
    caplog = debug_logging
    with Client(echo.url, TOKEN, backoff=0.01) as client:
        client.get("/api/v1/ok")
        list(client.paginate("GET", "/api/v1/ok"))
        for path in ECHOES:
            client.get(path)
        failures(client)  # includes retried calls, which log why they retry
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for record in caplog.records:
        assert_clean(record.getMessage(), record.args, record.msg)
    assert_clean(caplog.text)


def test_timing_log_and_widget(echo: LoopbackServer, tmp_path: Path) -> None:
    from reinfer_nb.widgets import TimingWidget, render_timing_html

    with Client(echo.url, TOKEN, backoff=0.01) as client:
        client.get("/api/v1/ok", params={"q": "x"})
        for path in ECHOES:
            client.get(path)
        failures(client)
        log = client.timing_log
        assert len(log) > 10
        log.to_csv(tmp_path / "log.csv")
        widget = TimingWidget(log, refresh_interval=0, max_rows=100)
        texts = [log.to_frame().to_csv(), (tmp_path / "log.csv").read_text(),
                 render_timing_html(log), widget._repr_html_(), repr(widget.get_state()),
                 repr(widget._repr_mimebundle_()), repr([r.as_dict() for r in log])]
        texts += [repr(child.get_state()) for child in widget.children]
        widget.close()
    assert_clean(*texts)


# --------------------------------------------------------------------------- IPython


def test_ipython_outputs_and_history(ip: Any, echo: LoopbackServer,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    cells = [
        f"%reinfer_login --endpoint {echo.url} -o c",
        "c", "c.token", "repr(c)", "str(c.token)", "c.__dict__",
        "from reinfer_nb import get_client\nget_client()" if hasattr(reinfer_nb, "get_client")
        else "from reinfer_nb.magics import get_client\nget_client()",
        "%reinfer_get /api/v1/ok",
        "%%reinfer_get -o df\n/api/v1/ok",
        "df", "df.attrs", "df.attrs['timing']",
        "%reinfer_get /api/v1/echo-error",
        "%reinfer_get -o echoed /api/v1/echo-body", "echoed", "echoed.attrs",
        "%reinfer_get /api/v1/echo-timing", "%reinfer_get --raw /api/v1/echo-body",
        "%reinfer_get /api/v1/echo-same-redirect",
        "%reinfer_get -o bad /api/v1/echo-payload",
        "bad", "bad.attrs",
        "%%reinfer_post\n/api/v1/echo-html\n{}",
        "%reinfer_get /api/v1/echo-redirect",
        "%reinfer_get /api/v1/busy",
        "%%reinfer_get -o rows --all\n/api/v1/ok",
        "rows",
        "%reinfer_timing -o t", "t", "%reinfer_timing --summary", "%reinfer_timing --static",
        "%reinfer_timing",
        "%config ReinferMagics",
        "_", "__", "Out", "_oh",
        "%reinfer_logout",
    ]
    magics = ip.magics_manager.registry["ReinferMagics"]
    magics.retries = 1
    magics.check_spec = False  # the echo server's paths are not the API's
    with capture_output() as cap:
        for cell in cells:
            if cell.startswith("%reinfer_get /api/v1/busy"):
                magics.client.backoff = 0.01
            ip.run_cell(cell, store_history=True)
    shown = [cap.stdout, cap.stderr]
    for output in cap.outputs:
        shown += [repr(output.data), repr(output.metadata)]
    assert "Logged in to" in cap.stdout and "…TAIL" in cap.stdout
    assert any("text/html" in out.data for out in cap.outputs)
    history = ip.user_ns["Out"]
    assert len(history) > 10 and history is ip.user_ns["_oh"]
    for value in history.values():
        shown += texts_of(value)
    shown += [repr(ip.history_manager.output_hist_reprs)]
    assert_clean(*shown)


def test_token_typed_in_a_cell_is_warned_about_not_shown(ip: Any,
                                                         echo: LoopbackServer) -> None:
    with capture_output() as cap, pytest.warns(UserWarning, match="saved in the notebook") as w:
        # Not stored in the input history (a real file): that is what the warning is about.
        result = ip.run_cell(f"%reinfer_login --endpoint {echo.url} --token {TOKEN}")
    assert result.error_in_exec is None and "…TAIL" in cap.stdout
    assert_clean(cap.stdout, cap.stderr, *(repr(o.data) for o in cap.outputs),
                 *(str(warning.message) for warning in w), repr(ip.user_ns["Out"]))


# --------------------------------------------------------------------------- where it goes


@pytest.fixture
def two_servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    other = LoopbackServer()

    def redirecting(request: Seen, server: LoopbackServer) -> Reply:
        parts = request.path.split("/")  # /r/<code>/<where>
        if request.path.startswith("/api/v1/r/"):
            code, where = int(parts[4]), parts[5]
            target = {
                "port": f"{other.url}/api/v1/landed",
                "host": f"http://localhost:{server.port}/api/v1/landed",
                "scheme-relative": f"//127.0.0.1:{other.port}/api/v1/landed",
                "userinfo": f"http://127.0.0.1:{server.port}@127.0.0.1:{other.port}/api/v1/x",
                "ipv6": f"http://[::1]:{server.port}/api/v1/landed",
                "same": "/api/v1/landed",
            }[where]
            return Reply(code, b"", {"Location": target})
        return ok({"landed": request.path})

    with other, LoopbackServer(redirecting) as server:
        yield server, other


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["port", "host", "scheme-relative", "userinfo", "ipv6"])
def test_redirect_to_another_origin_is_refused(
    two_servers: tuple[LoopbackServer, LoopbackServer], where: str, code: int, method: str
) -> None:
    server, other = two_servers
    path = f"/api/v1/r/{code}/{where}"
    with Client(server.url, TOKEN, backoff=0.01) as client:
        with pytest.raises(NetworkError) as info:
            client.request(method, path, json={} if method == "POST" else None)
        err = info.value
        assert err.reason == "redirect" and err.http_status == code and err.attempts == 1
        assert "another host" in err.message and err.method == method and err.path == path
        assert client.timing_log.records[-1].http_status == code
        assert_clean(*texts_of(err))
        assert client.get("/api/v1/ok").data["landed"] == "/api/v1/ok"  # the next call works
    # The other server never saw a connection, let alone the header; no name was looked up.
    assert other.connections == 0 and other.seen == []
    assert len(server.requests_to(path)) == 1
    assert server.seen[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirect_within_the_origin_is_followed(
    two_servers: tuple[LoopbackServer, LoopbackServer], code: int
) -> None:
    server, other = two_servers
    with Client(server.url, TOKEN) as client:
        result = client.get(f"/api/v1/r/{code}/same")
    assert result.data["landed"] == "/api/v1/landed"
    assert [s.headers.get("authorization") for s in server.seen] == [f"Bearer {TOKEN}"] * 2
    assert other.connections == 0


def test_redirect_from_https_to_http_is_refused(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    plain = LoopbackServer()

    def downgrade(request: Seen, server: LoopbackServer) -> Reply:
        return Reply(301, b"", {"Location": f"http://127.0.0.1:{plain.port}{request.target}"})

    with plain, LoopbackServer(downgrade, tls=server_context(cert, key)) as server:
        with Client(server.url, TOKEN, verify=str(cert)) as client:
            with pytest.raises(NetworkError) as info:
                client.get("/api/v1/ok")
    assert info.value.reason == "redirect" and plain.connections == 0


@pytest.mark.parametrize("url", [
    "http://acme.reinfer.io", "HTTP://ACME.REINFER.IO/api/", "http://10.1.2.3:8000",
    "http://[2001:db8::1]/", "http://127.0.0.1.nip.io", "http://localhost.example.com",
    "http://cloud.uipath.com/org/tenant/reinfer_", "http://0.0.0.0:8000", "http://192.168.1.1",
    # Names under .localhost are not resolved here: a resolver may send them anywhere.
    "http://app.localhost:8000", "http://localhost.localhost",
])
def test_plain_http_is_refused_off_loopback(url: str, ip: Any) -> None:
    with pytest.raises(ConfigError, match="https"):
        Client(url, TOKEN)
    result = ip.run_cell(f"%reinfer_login --endpoint {url} --no-check --token-env NOPE")
    assert isinstance(result.error_in_exec, ConfigError)
    assert "https" in str(result.error_in_exec)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://[::1]:1", "http://localhost:1",
                                 "http://127.5.6.7:1", "127.0.0.1:1"])
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    with Client(url, TOKEN) as client:
        assert client.endpoint.scheme == "http" and client.endpoint.is_loopback


PROXY_PASSWORD = "pr0xy-Pa55word-7e2b8a6035c1e4d9"


@pytest.mark.parametrize("where", ["argument", "environment", "context"])
def test_a_proxy_password_is_not_shown(where: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The client keeps the proxy URL (for every call): vars(), reprs and debuggers show
    its password masked."""
    proxy = f"http://corp:{PROXY_PASSWORD}@127.0.0.1:3128"
    if where == "argument":
        client = Client("https://127.0.0.1:1", TOKEN, proxy=proxy)
    elif where == "environment":
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        client = Client("https://127.0.0.1:1", TOKEN)
    else:
        path = tmp_path / "contexts.json"
        path.write_text(json.dumps({"current_context": "corp", "contexts": [
            {"name": "corp", "endpoint": "https://127.0.0.1:1", "token": TOKEN,
             "proxy": proxy}]}))
        login = resolve_login(context="corp", contexts_file=path, environ={})
        client = login.client()
        assert_clean(*texts_of(login), *texts_of(login.context))
        assert PROXY_PASSWORD not in repr(login) + repr(load_contexts(path))
    with client:
        shown = [pprint.pformat(vars(client)), *texts_of(client), repr(client._send_settings)]
        assert all(PROXY_PASSWORD not in text for text in shown)
        assert "corp:…e4d9@127.0.0.1:3128" in shown[0]  # masked by credentials.mask_token
        # The URL itself is unchanged: requests still gets the password.
        assert client._send_settings["proxies"]["https"] == proxy


def test_logout_forgets_the_token_of_a_captured_client(ip: Any, echo: LoopbackServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    ip.run_line_magic("reinfer_login", f"--endpoint {echo.url} --no-check -o c")
    captured = ip.user_ns["c"]
    assert captured.get("/api/v1/ok").http_status == 200
    ip.run_line_magic("reinfer_logout", "")
    for cell in ("c.token", "c.get('/api/v1/ok')", "c.fetch_all('GET', '/api/v1/ok')"):
        err = ip.run_cell(cell).error_in_exec
        assert isinstance(err, ConfigError) and "logged out" in err.message, cell
    # Nothing the object holds reveals the token any more.
    assert captured._token is None
    assert_clean(pprint.pformat(vars(captured)), *texts_of(captured))
    assert not any(isinstance(value, Token) for value in vars(captured).values())
    assert len(echo.requests_to("/api/v1/ok")) == 1


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("planted", ["stale-temporary-file", "symlink"])
def test_the_contexts_file_is_written_owner_only(planted: str, tmp_path: Path) -> None:
    """A temporary file left world-readable, or a symlink planted where the old code put
    its temporary file, neither widens the mode nor receives the token."""
    path = tmp_path / "contexts.json"
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("")
    for tmp in (tmp_path / "contexts.tmp", tmp_path / ".contexts.json.tmp"):
        if planted == "symlink":
            tmp.symlink_to(elsewhere)
        else:
            tmp.write_text("{}")
            tmp.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        save_context("dev", "https://acme.reinfer.io", TOKEN, path=path)
        save_context("prod", "https://acme.reinfer.io", TOKEN, path=path)
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o600 and not path.is_symlink()
    assert CORE not in elsewhere.read_text()
    assert load_contexts(path).names() == ["dev", "prod"]
    leftovers = {p.name for p in tmp_path.iterdir()}
    assert leftovers == {"contexts.json", "elsewhere.txt", "contexts.tmp", ".contexts.json.tmp"}


def test_context_with_plain_http_is_refused(ip: Any, tmp_path: Path) -> None:
    path = tmp_path / "contexts.json"
    save_context("bad", "http://acme.reinfer.io", TOKEN, path=path)
    result = ip.run_cell(f"%reinfer_login --context bad --contexts-file {path} --no-check")
    assert isinstance(result.error_in_exec, ConfigError)


OTHER_HOST_PATHS = [
    "{other}/api/v1/x",
    "{other_scheme_relative}/api/v1/x",
    "HTTP://127.0.0.1:{other_port}/api/v1/x",
    "http://127.0.0.1:{port}@127.0.0.1:{other_port}/api/v1/x",
    "http://localhost:{port}/api/v1/x",
    "https://127.0.0.1:{port}/api/v1/x",
    "http://[::1]:{port}/api/v1/x",
    "http://127.0.0.1:{other_port}\\@127.0.0.1:{port}/api/v1/x",
    "https://acme.reinfer.io/api/v1/x",
]


@pytest.mark.parametrize("template", OTHER_HOST_PATHS)
def test_full_url_of_another_host_in_a_cell_is_refused_before_sending(
    template: str, ip: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REINFER_TOKEN", TOKEN)
    with LoopbackServer() as other, LoopbackServer(Echo()) as server:
        ip.run_line_magic("reinfer_login", f"--endpoint {server.url} --no-check")
        url = template.format(other=other.url, other_scheme_relative=f"//127.0.0.1:{other.port}",
                              other_port=other.port, port=server.port)
        ip.user_ns["target"] = url
        cells = [f"%reinfer_get {url}", f"%%reinfer_get\n{url}\nlimit: 1",
                 f"%%reinfer_post\n{url}\n{{}}", "%%reinfer_get\n{target}",
                 f"%%reinfer_delete\n{url}\nid: 1", f"%%reinfer_put\n{url}\n{{}}"]
        for cell in cells:
            result = ip.run_cell(cell)
            assert isinstance(result.error_in_exec, ConfigError), (cell, result.error_in_exec)
        with Client(server.url, TOKEN) as client, pytest.raises(ConfigError):
            client.get(url)
        assert other.connections == 0 and server.seen == []
        # The same origin, written in full, is fine.
        ip.run_line_magic("reinfer_get", f"-o same --no-check-spec {server.url}/api/v1/ok")
        assert list(ip.user_ns["same"]["id"]) == ["a"]
