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
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.lib.pretty import pretty
from IPython.utils.capture import capture_output

import reinfer_nb
from reinfer_nb.client import Client
from reinfer_nb.credentials import Token, load_contexts, save_context
from reinfer_nb.errors import ApiError, ConfigError, NetworkError, ReinferError
from reinfer_nb.frames import error_frame, pages_to_frame, to_frame

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
                 "/api/v1/echo-html",
                 "/api/v1/echo-text", "/api/v1/echo-redirect", "/api/v1/busy"):
        for method in ("GET", "POST"):
            with pytest.raises(ReinferError) as info:
                client.request(method, path, json={} if method == "POST" else None)
            errors.append(info.value)
    with pytest.raises(ConfigError) as config:
        client.get("http://127.0.0.1:1/api/v1/ok")
    errors.append(config.value)
    return errors


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
        errors = failures(client)
        objects += errors + [error_frame(err) for err in errors]
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
    from tests.support.servers import LoopbackServer, Reply, TOKEN
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    server = LoopbackServer()
    server.reply_next(Reply(mode="hang", delay=20))
    ip = InteractiveShell.instance()
    ip.run_line_magic("colors", "nocolor")
    ip.run_line_magic("xmode", "Verbose")
    ip.user_ns.update(url=server.url, secret=TOKEN)
    ip.run_cell("from reinfer_nb import Client; c = Client(url, secret, timeout=20, retries=0)")
    del ip.user_ns["secret"]
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with capture_output() as cap:
        result = ip.run_cell("c.get('/api/v1/slow')")
    server.stop()
    sys.stdout.write("RESULT " + type(result.error_in_exec).__name__ + "\\n")
    sys.stdout.write(cap.stdout + cap.stderr)
""")


def test_interrupted_call_with_verbose_traceback_shows_no_token() -> None:
    """Stopping a slow call with %xmode Verbose prints every frame's local variables,
    including the header dicts of requests and urllib3."""
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run([sys.executable, "-c", VERBOSE_SCRIPT], cwd=root, env=env,
                          capture_output=True, text=True, timeout=90)
    output = done.stdout + done.stderr
    assert "RESULT KeyboardInterrupt" in output, output[-2000:]
    # Local variables were printed, the header dicts among them, masked.
    assert "'Authorization': 'Bearer …TAIL'" in output, output[-2000:]
    assert_clean(output)


# --------------------------------------------------------------------------- logs


def test_logging_at_debug(
    echo: LoopbackServer, debug_logging: pytest.LogCaptureFixture
) -> None:
    caplog = debug_logging
    with Client(echo.url, TOKEN, backoff=0.01) as client:
        client.get("/api/v1/ok")
        list(client.paginate("GET", "/api/v1/ok"))
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
