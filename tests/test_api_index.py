"""The API index built from the shipped spec: look-up, matching, did-you-mean, search,
path completion, and the one-operation view (issue 13)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reinfer_nb.api_docs import body_fields, describe, example_body, example_cell, find_operations
from reinfer_nb.api_index import ApiIndex, api_index, route_segments
from reinfer_nb.errors import ConfigError
from reinfer_nb.spec import openapi
from reinfer_nb.spec_check import body_problems

QUERY = "/api/_private/datasets/{owner}/{dataset_name}/query"
LISTING = "/api/_private/sources/{owner}/{source_name}/comments"


@pytest.fixture(scope="module")
def index() -> ApiIndex:
    return api_index()


def test_every_operation_of_the_spec_is_indexed(index: ApiIndex) -> None:
    spec = {
        (method.upper(), path)
        for path, item in openapi()["paths"].items()
        for method in item
    }
    indexed = {(op.method, op.path) for op in index.operations if op.documented_in == "spec"}
    assert indexed == spec and len(spec) == 211
    # The two /auth calls every client makes are known too, marked as not from the spec.
    extra = {op.key for op in index.operations if op.documented_in != "spec"}
    assert extra == {"GET /auth/user", "POST /auth/refresh-user-permissions"}
    op = index.get("POST", QUERY)
    assert op is not None and op.summary == "Query comments in a dataset" and op.tag == "Comments"
    assert [p.name for p in op.path_parameters] == ["owner", "dataset_name"]
    assert op.request_schema == {"$ref": "#/components/schemas/QueryCommentsRequest"}
    assert op.response_schema == {"$ref": "#/components/schemas/QueryCommentsResponse"}


def test_import_and_extension_load_do_not_parse_the_spec() -> None:
    code = (
        "import sys, reinfer_nb, reinfer_nb.spec as spec\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'reinfer_nb')\n"
        "import reinfer_nb.api_index as ai\n"
        "print(spec.openapi.cache_info().currsize, ai.api_index.cache_info().currsize,\n"
        "      'jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0", "False"]


@pytest.mark.parametrize(
    ("method", "path", "template", "values"),
    [
        ("GET", "/api/v1/datasets/dev", "/api/v1/datasets/{owner}", {"owner": "dev"}),
        ("GET", "api/v1/datasets", "/api/v1/datasets", {}),
        ("GET", "v1/datasets/", "/api/v1/datasets", {}),
        ("get", "_private/sources/dev/emails/comments?limit=3", LISTING,
         {"owner": "dev", "source_name": "emails"}),
        # the re tool sends owner/name as one segment, its slash encoded
        ("GET", "/api/v1/sources/dev%2Femails", "/api/v1/sources/{owner}/{source_name}",
         {"owner": "dev", "source_name": "emails"}),
        ("GET", "/api/v1/sources/id:0123456789abcdef", "/api/v1/sources/id:{source_id}",
         {"source_id": "0123456789abcdef"}),
        ("DELETE", "/api/v1/datasets/id:abc", "/api/v1/datasets/id:{dataset_id}",
         {"dataset_id": "abc"}),
        ("POST", "https://cloud.uipath.com/org/tenant/reinfer_/api/_private/datasets/a/b/query",
         QUERY, {"owner": "a", "dataset_name": "b"}),
        ("POST", "/api/_private/datasets/{owner}/{name}/query", QUERY,
         {"owner": "{owner}", "dataset_name": "{name}"}),
        ("GET", "/auth/user", "/auth/user", {}),
    ],
)
def test_paths_match_as_clients_write_them(
    index: ApiIndex, method: str, path: str, template: str, values: dict[str, str]
) -> None:
    match = index.match(method, path)
    assert match is not None and match.operation.path == template
    assert dict(match.values) == values


def test_what_matches_nothing(index: ApiIndex) -> None:
    # An id: segment is not a project name: GET by dataset id is no operation.
    assert index.match("GET", "/api/v1/datasets/id:abc") is None
    assert [m.operation.method for m in index.at_path("/api/v1/datasets/id:abc")] == ["DELETE"]
    assert index.match("GET", "/api/v1/sources/dev/emails/comments") is None
    assert index.match("GET", "/api/v1/datsets") is None
    assert route_segments("/_sandbox/stats") is None and route_segments("/metrics") is None
    assert route_segments("https://example.com/nothing") is None


def test_closest_paths_keep_the_values_typed(index: ApiIndex) -> None:
    assert index.closest("GET", "/api/v1/datsets") == ["GET /api/v1/datasets"]
    assert index.closest("POST", "/api/_private/datasets/dev/triage/qeury")[0] == (
        "POST /api/_private/datasets/dev/triage/query"
    )
    assert "GET /api/_private/sources/dev/emails/comments" in index.closest(
        "GET", "/api/v1/sources/dev/emails/comments"
    )
    assert index.closest("GET", "/api/v1/nonexistent_page") == []


def test_search_by_words_in_path_summary_and_tag(index: ApiIndex) -> None:
    found = index.search("get comments")
    assert f"GET {LISTING}" in [op.key for op in found]
    for op in found:
        text = f"{op.method} {op.path} {op.summary} {op.tag} {op.operation_id}".lower()
        assert "get" in text and "comments" in text
    assert [op.key for op in index.search("query comments")][0] == f"POST {QUERY}"
    assert [op.key for op in index.search("get comments")][0] == f"GET {LISTING}"
    assert {op.tag for op in index.search("Streams")} >= {"Streams"}
    assert len(index.search("")) == len(index.operations)
    assert index.search("no-such-word-anywhere") == []
    table = index.table(index.search("datasets owner"))
    assert list(table.columns) == ["method", "path", "summary"] and len(table) > 5


def test_complete_path_one_segment_at_a_time(index: ApiIndex) -> None:
    def texts(typed: str, **kw: object) -> list[str]:
        return [c.text for c in index.complete_path(typed, **kw)]  # type: ignore[arg-type]

    assert texts("/api/v1/da") == ["/api/v1/datasets"]
    assert texts("v1/da") == ["v1/datasets"]  # the form typed is kept
    assert texts("api/v1/da") == ["api/v1/datasets"]
    assert texts("") == ["/api", "/auth"]
    assert texts("/api/") == ["/api/_private", "/api/preview", "/api/tenantserviceinstances",
                              "/api/v1"]
    assert "/api/v1/datasets/{owner}" in texts("/api/v1/datasets/")
    # Filtered by method: only DELETE exists at /api/v1/datasets/id:{dataset_id}.
    assert "/api/v1/datasets/id:{dataset_id}" not in texts("/api/v1/datasets/", method="GET")
    assert "/api/v1/datasets/id:{dataset_id}" in texts("/api/v1/datasets/", method="DELETE")
    # Live names fill the parameters, given the ones typed before.
    seen: list[tuple[str, str, dict[str, str]]] = []

    def values(name: str, previous: str, filled: dict[str, str]) -> list[str] | None:
        seen.append((name, previous, dict(filled)))
        return {"owner": ["dev", "prod"], "source_name": ["emails"]}.get(name)

    assert texts("/api/_private/sources/", values=values, method="GET") == [
        "/api/_private/sources/dev", "/api/_private/sources/email-transform",
        "/api/_private/sources/id:{source_id}", "/api/_private/sources/prod"]
    assert texts("/api/_private/sources/dev/e", values=values, method="GET") == [
        "/api/_private/sources/dev/emails"]
    assert ("source_name", "sources", {"owner": "dev"}) in seen
    full = index.complete_path("/api/v1/datasets/dev/triage/ex")
    assert [(c.text, c.methods) for c in full] == [("/api/v1/datasets/dev/triage/export",
                                                    ("POST",))]


def test_one_operation_view_of_a_nested_request_body(index: ApiIndex) -> None:
    op = index.get("POST", QUERY)
    assert op is not None
    text = describe(op, index)
    assert text.splitlines()[0] == f"POST {QUERY}"
    assert "Request body (QueryCommentsRequest; * required)" in text
    fields = {f.name: f for f in body_fields(op, index)}
    assert fields["order"].required and fields["order"].type.startswith("object by kind: recent")
    assert not fields["limit"].required and fields["limit"].type == "integer"
    assert fields["filter.reviewed"].type == 'one of "only_reviewed", "only_unreviewed"'
    assert "  * results       array of object (AnnotatedComment)" in text
    assert example_cell(op, index).splitlines() == [
        "%%reinfer_post -o results",
        "# set owner, dataset_name first (or write the names into the path)",
        QUERY,
        '{"order": {"kind": "recent"}, "limit": 20}',
    ]


def test_one_operation_view_with_owner_and_name_in_the_path(index: ApiIndex) -> None:
    matches = find_operations(["GET", "/api/v1/datasets/dev/support-triage"], index)
    assert matches is not None and len(matches) == 1
    text = describe(matches[0].operation, index, matches[0].values)
    assert "  * owner         string  (= dev)" in text
    assert "  * dataset_name  string  (= support-triage)" in text
    assert "  * dataset  object (Dataset)" in text
    assert text.endswith("  %%reinfer_get -o dataset\n  /api/v1/datasets/dev/support-triage")
    # PATH alone: every method at that path.
    every = find_operations(["/api/v1/datasets/{owner}/{dataset_name}"], index)
    assert every is not None
    assert [m.operation.method for m in every] == ["GET", "POST", "PUT", "DELETE"]


def test_one_operation_view_of_a_listing_with_query_parameters(index: ApiIndex) -> None:
    op = index.get("GET", LISTING)
    assert op is not None
    text = describe(op, index)
    assert "Query parameters" in text and "    limit                      integer" in text
    assert "Request body" not in text
    cell = example_cell(op, index)
    assert cell.splitlines()[:3] == [
        "%%reinfer_get -o comments",
        "# set owner, source_name first (or write the names into the path)",
        LISTING,
    ]
    assert "# limit: integer" in cell


def test_unknown_operations_are_named_with_the_closest(index: ApiIndex) -> None:
    assert find_operations(["comments"], index) is None  # search words, not a path
    with pytest.raises(ConfigError, match=r"did you mean GET /api/v1/datasets\?"):
        find_operations(["GET", "/api/v1/datsets"], index)


def test_every_example_body_validates_against_its_own_operation(index: ApiIndex) -> None:
    """The example cells to copy send bodies the spec accepts."""
    checked = 0
    for op in index.operations:
        if op.request_schema is not None and op.takes_json:
            body = example_body(op.request_schema, index)
            assert body_problems(op, body, index) == [], op.key
            checked += 1
    assert checked == 90


def test_the_client_routes_as_the_sandbox_does(index: ApiIndex) -> None:
    """For every path shape of the spec and every method, the client's check lets a call
    through exactly when the sandbox (which routes as the platform) has that operation:
    what fails before sending would have been a 404 or 405."""
    import re

    from reinfer_nb.sandbox.api.router import API_ROUTES
    from reinfer_nb.sandbox.api.validate import Refusal

    paths = {op.path for op in index.operations}
    checked = 0
    for template in sorted(paths):
        for value in ("x", "0123456789abcdef"):
            path = re.sub(r"\{\w+\}", value, template)
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
                try:
                    API_ROUTES.match(method, path)
                    routed = True
                except Refusal as refusal:
                    assert refusal.status in (404, 405, 501), (method, path, refusal.status)
                    routed = refusal.status == 501  # in the API, not in the sandbox
                assert (index.match(method, path) is not None) == routed, (method, path)
                checked += 1
    assert checked == len(paths) * 10
