"""The sandbox over real HTTP: auth, error bodies, headers, keep-alive, the gateway's
handling of framing (Content-Length, chunked, Connection: close, malformed requests),
and bad input."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from reinfer_nb.sandbox import Sandbox, start_sandbox

TIMING = re.compile(r"^total;dur=\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Iterator[Sandbox]:
    sb = make_sandbox(comments=200, seed=1)
    yield sb
    sb.stop()


@pytest.fixture()
def session(sandbox: Sandbox) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.token}"
        yield s


def raw_exchange(sandbox: Sandbox, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes, return what came back.

    A server that does not close within ``timeout`` seconds of silence fails the test with
    ``TimeoutError``: returning at all shows that the server closed the connection.
    """
    with socket.create_connection((sandbox.host, sandbox.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        for _ in range(10_000):  # bounded: answers here are far below 10,000 reads
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def split_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_platform_answer(response: requests.Response) -> None:
    """JSON, status agreeing with the HTTP code, Content-Length and Server-Timing."""
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert TIMING.match(response.headers["Server-Timing"]), response.headers["Server-Timing"]
    body = response.json()
    assert body["status"] == ("ok" if 200 <= response.status_code < 300 else "error"), body
    if body["status"] == "error":
        assert set(body) == {"status", "message"} and body["message"]
        assert "\n" not in body["message"]


# -- auth -----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Basic abc", "sbx_x"])
def test_missing_or_wrong_token_is_401(sandbox: Sandbox, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for path in ("/api/v1/sources", "/auth/user", "/api/v1/nonexistent_page", "/_sandbox/stats"):
        response = requests.get(sandbox.url + path, headers=headers, timeout=10)
        assert response.status_code == 401
        assert_platform_answer(response)
        assert "Authorization: Bearer <token>" in response.json()["message"]
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_token_never_appears_in_answers(sandbox: Sandbox) -> None:
    wrong = "sbx_" + "f" * 32
    response = requests.get(
        sandbox.url + "/api/v1/sources", timeout=10, headers={"Authorization": f"Bearer {wrong}"}
    )
    assert wrong not in response.text
    ok = requests.get(
        sandbox.url + "/auth/user", timeout=10, headers={"Authorization": f"bearer {sandbox.token}"}
    )
    assert ok.status_code == 200 and sandbox.token not in ok.text
    assert sandbox.token not in repr(sandbox) and sandbox.admin_token not in repr(sandbox)
    assert f"token=…{sandbox.token[-4:]}" in repr(sandbox)  # credentials.mask_token


def test_repr_of_a_chosen_token_is_masked() -> None:
    with start_sandbox(comments=0, token="hunter2") as sb:
        assert "hunter2" not in repr(sb) and "nter" not in repr(sb)
        assert sb.url.startswith("http://127.0.0.1:") and not sb.url.endswith("/")


def test_admin_token_is_another_user(sandbox: Sandbox) -> None:
    user = requests.get(
        sandbox.url + "/auth/user",
        timeout=10,
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    ).json()["user"]
    assert user["username"] == "admin" and sandbox.admin_token != sandbox.token


# -- error bodies and headers ------------------------------------------------------------------


def test_unknown_path_is_the_exact_404(session: requests.Session, sandbox: Sandbox) -> None:
    for path in ("/api/v1/nonexistent_page", "/api/v2/sources", "/", "/api/v1/sources/a/b/c/d/e"):
        response = session.get(sandbox.url + path)
        assert response.status_code == 404
        assert response.json() == {"message": "404 Not Found", "status": "error"}
        assert_platform_answer(response)


def test_wrong_method_is_405_with_allow(session: requests.Session, sandbox: Sandbox) -> None:
    response = session.delete(sandbox.url + "/api/v1/sources")
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    assert_platform_answer(response)
    response = session.patch(sandbox.url + "/api/v1/sources/dev/support-emails")
    assert response.status_code == 405 and response.headers["Allow"] == "GET, PUT, POST"


def test_every_answer_is_a_platform_answer(session: requests.Session, sandbox: Sandbox) -> None:
    url = sandbox.url
    calls = [
        ("GET", "/auth/user", None),
        ("POST", "/auth/refresh-user-permissions", {}),
        ("GET", "/api/v1/projects", None),
        ("GET", "/api/_private/projects/prod", None),
        ("GET", "/api/v1/sources", None),
        ("GET", "/api/v1/sources/nope", None),
        ("GET", "/api/v1/sources/dev/nope", None),
        ("GET", "/api/v1/sources/id:0123456789abcdef", None),
        ("GET", "/api/v1/datasets/restricted/escalations-review", None),
        ("POST", "/api/v1/sources/prod/support-emails/sync", {"comments": []}),
        ("GET", "/api/_private/sources/dev/support-emails/comments?limit=0", None),
        ("POST", "/api/_private/datasets/dev/support-triage/query", {"order": {"kind": "sample"}}),
        ("GET", "/api/v1/datasets/dev/support-triage/streams/none", None),
        ("PUT", "/api/v1/sources/dev/support-emails", {"source": {}}),
    ]
    for method, path, body in calls:
        response = session.request(method, url + path, json=body)
        assert_platform_answer(response)
    assert response.status_code == 409


def test_auth_user_has_the_fields_the_cli_needs(
    session: requests.Session, sandbox: Sandbox
) -> None:
    user = session.get(sandbox.url + "/auth/user").json()["user"]
    assert {
        "id",
        "username",
        "email",
        "created",
        "global_permissions",
        "organisation_permissions",
        "sso_global_permissions",
        "verified",
    } <= set(user)
    assert user["username"] == "demo" and user["email"] == "demo@sandbox.invalid"
    assert {"sources-admin", "sources-read", "datasets-admin", "voc"} <= set(
        user["organisation_permissions"]["dev"]
    )
    assert set(user["organisation_permissions"]["prod"]) == {
        "sources-read",
        "voc-readonly",
        "triggers-read",
        "triggers-consume",
    }
    assert "restricted" not in user["organisation_permissions"]
    refreshed = session.post(sandbox.url + "/auth/refresh-user-permissions", json={}).json()
    assert refreshed == {"status": "ok", "permissions_refreshed": True}


def test_percent_encoded_slash_in_names(session: requests.Session, sandbox: Sandbox) -> None:
    plain = session.get(sandbox.url + "/api/v1/sources/dev/support-emails").json()
    encoded = session.get(sandbox.url + "/api/v1/sources/dev%2Fsupport-emails").json()
    assert plain == encoded and plain["source"]["name"] == "support-emails"
    page = session.get(sandbox.url + "/api/_private/sources/dev%2Fsupport-emails/comments?limit=1")
    assert page.status_code == 200 and len(page.json()["comments"]) == 1


# -- keep-alive and the gateway -------------------------------------------------------------


def test_one_session_makes_one_connection(sandbox: Sandbox) -> None:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.token}"
        s.get(sandbox.url + "/api/v1/projects")  # connect before counting
        sandbox.reset_stats()
        for i in range(100):
            path = "/api/v1/sources" if i % 2 else "/api/v1/nonexistent_page"
            s.get(sandbox.url + path)
    stats = sandbox.stats()
    assert stats["connections_opened"] == 0  # all 100 on the one connection already open
    assert stats["calls"] == 100
    assert stats["calls_by_path"] == {"GET /api/v1/sources": 50, "GET /api/v1/nonexistent_page": 50}
    with requests.Session() as s:
        sandbox.reset_stats()
        for _ in range(100):
            s.get(
                sandbox.url + "/api/v1/sources",
                headers={"Authorization": f"Bearer {sandbox.token}"},
            )
    assert sandbox.stats()["connections_opened"] == 1


def test_connection_close_is_honoured(sandbox: Sandbox) -> None:
    request = (
        f"GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    status, headers, body = split_answer(raw_exchange(sandbox, request))  # closed by the server
    assert status == 200 and headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body) and json.loads(body)["status"] == "ok"


def test_two_requests_on_one_socket(sandbox: Sandbox) -> None:
    one = (
        f"GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.token}\r\n\r\n"
    )
    two = one.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
    raw = raw_exchange(sandbox, (one + two).encode())
    assert raw.count(b"HTTP/1.1 200 OK") == 2


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /api/v1/sources HTTP/9.9\r\n\r\n", 505),
        (b"GET /api/v1/sources HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /api/v1/sources HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"GET /api/v1/sources HTTP/1.1\r\n" + b"X: y\r\n" * 120 + b"\r\n", 431),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_malformed_requests_get_an_error_and_a_close(
    sandbox: Sandbox, request_bytes: bytes, code: int
) -> None:
    raw = raw_exchange(sandbox, request_bytes)  # returns: the server closed the connection
    status, headers, body = split_answer(raw)
    assert status == code and headers["connection"] == "close"
    assert json.loads(body)["status"] == "error" and TIMING.match(headers["server-timing"])


SYNC = b"POST /api/v1/sources/dev/support-emails/sync HTTP/1.1\r\nHost: x\r\n"
SMUGGLED = b"GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"


@pytest.mark.parametrize(
    ("framing", "body", "words"),
    [
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked", b"0\r\n\r\n", "both"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 5", b"0\r\n\r\n", "both"),
        (b"Transfer-Encoding: gzip, chunked", b"0\r\n\r\n", "transfer coding"),
        (b"Transfer-Encoding: xchunked", b"0\r\n\r\n", "transfer coding"),
        (b"Transfer-Encoding: chunked, chunked", b"0\r\n\r\n", "transfer coding"),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", b"0\r\n\r\n", "coding"),
        (b"Content-Length: 0\r\nContent-Length: 5", b"", "differ"),
        (b"Content-Length: 0, 5", b"", "differ"),
        (b"Content-Length: \xb2", b"", "not a number"),  # a digit to str.isdigit(), not to HTTP
        (b"Transfer-Encoding: chunked", b"0x5\r\nhello\r\n0\r\n\r\n", "chunk size"),
        (b"Transfer-Encoding: chunked", b"1000001\r\n" + b"x" * 1000, "past the limit"),
        (b"Transfer-Encoding: chunked", b"f" * 40 + b"\r\n", "chunk size"),
        (b"Content-Length : 0", b"", "Name: value"),  # a proxy may read it; http.server drops it
        (b"X-Folded: a\r\n b\r\nContent-Length: 0", b"", "folded"),
    ],
)
def test_ambiguous_framing_is_refused_and_closed(
    sandbox: Sandbox, framing: bytes, body: bytes, words: str
) -> None:
    smuggled = SMUGGLED.replace(b"{token}", sandbox.token.encode())
    raw = raw_exchange(sandbox, SYNC + framing + b"\r\n\r\n" + body + smuggled)
    assert raw.count(b"HTTP/1.1 ") == 1, raw  # the smuggled request is never answered
    status, headers, answer = split_answer(raw)
    assert status == 400 and headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    error = json.loads(answer)
    assert set(error) == {"message", "status"} and error["status"] == "error"
    assert words in error["message"], error["message"]


def test_identical_content_lengths_are_one(session: requests.Session, sandbox: Sandbox) -> None:
    body = b'{"comments": 5}'
    request = (
        SYNC + f"Authorization: Bearer {sandbox.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}, {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    )
    status, _, answer = split_answer(raw_exchange(sandbox, request))
    message = json.loads(answer)["message"]
    assert status == 400 and "comments" in message and "array" in message  # body was read


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"comments": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper than 100"),
        (b'{"a": ' * 150 + b"1" + b"}" * 150, "nested deeper than 100"),
        (b'{"comments": [' + b"9" * 5000 + b"]}", "too many digits"),
        (b'{"comments": [NaN]}', "NaN is not a JSON number"),
        (b'{"comments": [-Infinity]}', "Infinity is not a JSON number"),
    ],
)
def test_json_past_the_limits_is_400(
    session: requests.Session, sandbox: Sandbox, body: bytes, words: str
) -> None:
    response = session.post(
        sandbox.url + "/api/v1/sources/dev/support-emails/sync",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert_platform_answer(response)
    assert words in response.json()["message"]


def test_a_body_over_the_limit_is_refused_unread(sandbox: Sandbox) -> None:
    request = (
        f"POST /api/v1/sources/dev/support-emails/sync HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {sandbox.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {17 * 1024 * 1024}\r\n\r\n"
    ).encode()
    status, headers, body = split_answer(raw_exchange(sandbox, request))
    assert status == 413 and headers["connection"] == "close"
    assert "at most" in json.loads(body)["message"]


def test_chunked_bodies_are_read(session: requests.Session, sandbox: Sandbox) -> None:
    payload = json.dumps(
        {
            "comments": [
                {
                    "id": "chunked-1",
                    "timestamp": "2024-02-02T00:00:00Z",
                    "messages": [{"body": {"text": "chunked"}}],
                }
            ]
        }
    ).encode()
    response = session.post(
        sandbox.url + "/api/v1/sources/dev/support-emails/sync",
        data=iter([payload[:10], payload[10:]]),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200 and response.json()["new"] == 1


@pytest.mark.timeout(60)
def test_stop_ends_idle_keep_alive_connections(make_sandbox: Callable[..., Any]) -> None:
    sb = make_sandbox(comments=10)
    with requests.Session() as s:
        s.get(sb.url + "/api/v1/sources", headers={"Authorization": f"Bearer {sb.token}"})
        assert sb.stats()["connections_open"] == 1
        sb.stop()
        assert not sb.running and sb.stats()["connections_open"] == 0
        with pytest.raises(requests.ConnectionError):
            s.get(sb.url + "/api/v1/sources", timeout=3)
    sb.stop()  # idempotent


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        (
            "POST",
            "/api/v1/sources/dev/support-emails/sync",
            b'{"comments": [',
            400,
            "Malformed JSON",
        ),
        ("POST", "/api/v1/sources/dev/support-emails/sync", b"\xff\xfe", 400, "UTF-8"),
        ("POST", "/api/v1/sources/dev/support-emails/sync", b"[1, 2]", 400, "of type 'object'"),
        (
            "POST",
            "/api/v1/sources/dev/support-emails/sync",
            b'{"comments": "x"}',
            400,
            "comments: 'x' is not of type 'array'",
        ),
        (
            "POST",
            "/api/v1/sources/dev/support-emails/sync",
            b'{"comments": [{"id": 5}]}',
            400,
            "comments[0].id: 5 is not of type 'string'",
        ),
        (
            "POST",
            "/api/v1/sources/dev/support-emails/sync",
            b'{"comments": [{"id": "a", "timestamp": "last tuesday"}]}',
            400,
            "comments[0].timestamp: 'last tuesday' does not match",
        ),
        (
            "POST",
            "/api/v1/sources/dev/support-emails/sync",
            b'{"comment": []}',
            400,
            "'comments' is a required property",
        ),
        (
            "GET",
            "/api/_private/sources/dev/support-emails/comments?limit=257",
            b"",
            400,
            "from 1 to 256",
        ),
        ("GET", "/api/_private/sources/dev/support-emails/comments?limit=ten", b"", 400, "'limit'"),
        (
            "GET",
            "/api/_private/sources/dev/support-emails/comments?from_timestamp=soon",
            b"",
            400,
            "from_timestamp",
        ),
        (
            "GET",
            "/api/_private/sources/dev/support-emails/comments?after=bm9wZQ",
            b"",
            400,
            "continuation",
        ),
        (
            "GET",
            "/api/_private/sources/nobody/support-emails/comments",
            b"",
            404,
            "Project 'nobody' not found",
        ),
        (
            "GET",
            "/api/_private/sources/dev/nothing/comments",
            b"",
            404,
            "Source 'dev/nothing' not found",
        ),
        (
            "POST",
            "/api/_private/datasets/dev/support-triage/query",
            b'{"order": {"kind": "recent"}, "limit": "20"}',
            400,
            "limit: '20' is not of type 'integer'",
        ),
        (
            "POST",
            "/api/_private/datasets/dev/support-triage/query",
            b'{"order": {"kind": "recent"}, "filter": {"thread_properties": {"num_messages": '
            b'{"minimum": 2}}}}',
            422,
            "not supported by the sandbox",
        ),
        (
            "POST",
            "/api/v1/datasets/dev/support-triage/streams/triage-queue/fetch",
            b'{"size": 0}',
            400,
            "size: 0 is less than the minimum of 1",
        ),
        (
            "POST",
            "/api/v1/datasets/dev/support-triage/streams/triage-queue/advance",
            b'{"sequence_id": "???"}',
            400,
            "not a token",
        ),
        (
            "DELETE",
            "/api/v1/sources/dev/support-emails/comments",
            b"",
            400,
            "comment ids to delete",
        ),
    ],
)
def test_bad_input_gets_a_clear_message(
    session: requests.Session,
    sandbox: Sandbox,
    method: str,
    path: str,
    body: bytes,
    status: int,
    words: str,
) -> None:
    response = session.request(
        method, sandbox.url + path, data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert_platform_answer(response)
    assert words in response.json()["message"], response.json()["message"]
