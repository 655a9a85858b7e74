"""The sandbox routes exactly the spec: every route is an operation of the OpenAPI 3.1
document (besides the platform's ``/auth`` pair), every operation it does not implement
answers 501 saying so, unknown paths answer the exact 404 and a wrong method 405.
"""

from __future__ import annotations

import http.client
import inspect
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from reinfer_nb.sandbox import Sandbox
from reinfer_nb.sandbox.api.operations import AUTH_ROUTES, HANDLERS
from reinfer_nb.sandbox.api.router import API_ROUTES, Api
from reinfer_nb.sandbox.data.store import Store
from reinfer_nb.spec import openapi

NOT_FOUND = {"message": "404 Not Found", "status": "error"}
PARAM = re.compile(r"\{(\w+)\}")


def spec_operations() -> dict[tuple[str, str], str]:
    """(METHOD, template) -> operationId, for every operation of the spec."""
    return {
        (method.upper(), template): op["operationId"]
        for template, item in openapi()["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


def concrete(template: str) -> str:
    """A path for ``template`` with a harmless value in each parameter."""
    return PARAM.sub(lambda m: f"x{len(m.group(1))}", template)


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Sandbox:
    return make_sandbox(comments=50, seed=5)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def session(sandbox: Sandbox) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {sandbox.token}"
        yield s


def test_every_route_is_an_operation_of_the_spec() -> None:
    operations = spec_operations()
    routes = API_ROUTES.routes()
    inside = {(r.method, r.template) for r in routes if r.template.startswith("/api/")}
    outside = {(r.method, r.template) for r in routes if not r.template.startswith("/api/")}
    assert inside == set(operations)  # every spec operation has a route, and nothing else
    assert outside == {(m, t) for m, t, _ in AUTH_ROUTES} == {
        ("GET", "/auth/user"),
        ("POST", "/auth/refresh-user-permissions"),
    }
    for route in routes:
        if route.operation is not None:
            assert operations[route.method, route.template] == route.operation.operation_id
    assert set(HANDLERS) <= set(operations.values())
    implemented = {r.operation.operation_id for r in routes if r.handler and r.operation}
    assert implemented == set(HANDLERS)


def test_the_readme_says_how_much_is_served() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    total = len(spec_operations())
    text = " ".join(readme.split())
    assert f"implements {len(HANDLERS)} of the spec's {total} operations" in text
    assert f"the other {total - len(HANDLERS)} operations of the spec" in text


def test_handlers_take_the_spec_path_parameters_by_name() -> None:
    by_id = {op: template for (_, template), op in spec_operations().items()}
    for operation_id, handler in HANDLERS.items():
        names = PARAM.findall(by_id[operation_id])
        parameters = list(inspect.signature(handler).parameters.values())[1:]
        if any(p.kind is p.VAR_KEYWORD for p in parameters):  # a wrapper passing them on
            named = [p.name for p in parameters if p.kind is not p.VAR_KEYWORD]
            assert set(named) <= set(names), operation_id
            continue
        assert [p.name for p in parameters] == names, operation_id


def test_unimplemented_operations_answer_501_naming_the_operation(
    sandbox: Sandbox, session: requests.Session
) -> None:
    missing = [
        (method, template)
        for (method, template), operation_id in spec_operations().items()
        if operation_id not in HANDLERS
    ]
    assert len(missing) > 100
    for method, template in missing:
        response = session.request(method, sandbox.url + concrete(template), json={})
        assert response.status_code == 501, (method, template, response.text)
        body = response.json()
        assert set(body) == {"message", "status"} and body["status"] == "error"
        assert body["message"].startswith(
            f"{method} {template} exists in the Communications Mining API but the sandbox "
            "does not implement it"
        ), body


def test_unknown_paths_answer_the_exact_404(sandbox: Sandbox, session: requests.Session) -> None:
    for path in (
        "/",
        "/api",
        "/api/v1",
        "/api/v1/nonexistent_page",
        "/api/v2/sources",
        "/api/v1/datsets",
        "/api/v1/sources/a/b/c/d/e",
        "/api/v1/sources/",
        "/api/_private/sources/dev/support-emails/comments/extra/segments",
    ):
        for method in ("GET", "POST", "DELETE"):
            response = session.request(method, sandbox.url + path)
            assert response.status_code == 404, (method, path)
            assert response.json() == NOT_FOUND


def test_a_wrong_method_is_405_with_allow(sandbox: Sandbox, session: requests.Session) -> None:
    cases = {
        # The listing the real API has is /api/_private/.../comments: only DELETE here.
        ("GET", "/api/v1/sources/dev/support-emails/comments"): "DELETE",
        ("DELETE", "/api/v1/sources"): "GET",
        ("PATCH", "/api/v1/sources/dev/support-emails"): "GET, PUT, POST",
        ("PUT", "/api/v1/sources/id:0123456789abcdef"): "GET, DELETE",
        ("GET", "/api/v1/datasets/id:0123456789abcdef"): "DELETE",
        ("OPTIONS", "/api/v1/projects"): "GET",
        ("DELETE", "/auth/user"): "GET",
    }
    for (method, path), allowed in cases.items():
        response = session.request(method, sandbox.url + path)
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["Allow"] == allowed
        body = response.json()
        assert body["status"] == "error" and body["message"].startswith("405 Method Not Allowed")
        assert allowed in body["message"]


def test_the_forms_real_clients_send_are_routed(
    sandbox: Sandbox, session: requests.Session
) -> None:
    source = session.get(sandbox.url + "/api/v1/sources/dev%2Fsupport-emails").json()["source"]
    assert source["name"] == "support-emails"
    by_id = session.get(sandbox.url + f"/api/v1/sources/id:{source['id']}").json()["source"]
    assert by_id == source
    page = session.get(
        sandbox.url + "/api/_private/sources/dev%2Fsupport-emails/comments", params={"limit": 2}
    ).json()["comments"]
    uids = [c["uid"] for c in page]
    labellings = session.get(
        sandbox.url + "/api/_private/datasets/dev%2Fsupport-triage/labellings",
        params=[("id", uid) for uid in uids],
    ).json()["results"]
    assert [r["comment"]["uid"] for r in labellings] == uids
    one = session.post(
        sandbox.url + f"/api/_private/datasets/dev/support-triage/labellings/{uids[0]}",
        json={"labelling": [{"group": "default", "assigned": [], "dismissed": []}]},
    )
    assert one.status_code == 200 and one.json()["comment"]["uid"] == uids[0]
    head = session.head(sandbox.url + "/api/v1/projects")
    assert head.status_code == 200 and head.content == b""


def test_unusual_methods_are_405_in_the_api_layer() -> None:
    """TRACE, CONNECT and made-up methods reach the API layer and get 405 there.

    Served by the standard library's WSGI server (it hands any method to the app), so this
    tests the API layer whatever the sandbox's own HTTP front end does with such methods.
    """
    store = Store(1, 10)
    app = Api(store, {"secret-token": "demo"}, API_ROUTES)

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        for method, path in (
            ("TRACE", "/api/v1/sources"),
            ("CONNECT", "/api/v1/sources"),
            ("BREW", "/api/v1/projects"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            conn.request(method, path, headers={"Authorization": "Bearer secret-token"})
            response = conn.getresponse()
            assert response.status == 405, method
            assert response.getheader("Allow") == "GET"
            conn.close()
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
