"""Every sandbox operation that the OpenAPI 3.1 spec defines answers with JSON that validates
against that operation's schema: the 200 schema on success, the 4XX/5XX (ErrorResponse)
schema on failure. Where the older Swagger 2.0 file defines the operation too, and agrees
with the 3.1 file, the answer must validate against it as well.

The spec files are the API owner's published copies, shipped in ``reinfer_nb/sandbox/spec``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from reinfer_nb.sandbox import Sandbox
from reinfer_nb.sandbox.api.operations import HANDLERS

SPEC_DIR = resources.files("reinfer_nb") / "spec"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # git-ignored
OPENAPI_URI = "urn:reinfer:openapi-v3.1"
SWAGGER_URI = "urn:reinfer:swagger-2.0"

SOURCE = "/api/v1/sources/{owner}/{source_name}"
DATASET = "/api/v1/datasets/{owner}/{dataset_name}"
STREAM = DATASET + "/streams/{stream_name}"
COMMENT = {
    "id": "conformance-1",
    "timestamp": "2024-06-01T10:00:00Z",
    "messages": [
        {
            "from": "a@example.com",
            "to": ["b@example.com"],
            "subject": {"text": "Hello"},
            "body": {"text": "Where is my refund?"},
        }
    ],
    "user_properties": {"string:Channel": "Email", "number:NPS": 7},
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return json.loads((SPEC_DIR / "reinfer-v1.openapi-v3.1.json").read_text())


@pytest.fixture(scope="module")
def swagger() -> dict[str, Any]:
    return json.loads((SPEC_DIR / "reinfer-v1.swagger2.json").read_text())


@pytest.fixture(scope="module")
def sandbox(make_sandbox: Callable[..., Any]) -> Iterator[Sandbox]:
    sb = make_sandbox(comments=300, seed=7)
    yield sb
    sb.stop()


class Checker:
    """Calls the sandbox and validates each answer against the spec's operation."""

    def __init__(self, sandbox: Sandbox, openapi: dict[str, Any], swagger: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.openapi = openapi
        self.swagger = swagger
        self.registry = (
            Registry()
            .with_resource(OPENAPI_URI, Resource.from_contents(openapi, DRAFT202012))
            .with_resource(SWAGGER_URI, Resource.from_contents(swagger, DRAFT4))
        )
        self.validated: dict[str, set[str]] = {}  # operationId -> statuses validated
        self.swagger_validated: set[str] = set()

    def call(
        self,
        method: str,
        template: str,
        path: str,
        *,
        json_body: Any = None,
        token: str | None = None,
        expect: int = 200,
        **upload: Any,
    ) -> Any:
        """The answer's JSON, validated; a download's bytes, of the spec's media type."""
        token = token or self.sandbox.token
        response = self.session.request(
            method,
            self.sandbox.url + path,
            json=json_body,
            headers={"Authorization": f"Bearer {token}", **upload.pop("headers", {})},
            timeout=30,
            **upload,
        )
        assert response.status_code == expect, (method, path, response.text)
        operation = self.openapi["paths"][template][method.lower()]
        key = "200" if expect == 200 else f"{str(expect)[0]}XX"
        content = operation["responses"][key]["content"]
        if "application/json" not in content:
            assert response.headers["Content-Type"] in content, (method, path)
            self.validated.setdefault(operation["operationId"], set()).add(key)
            return response.content
        body = response.json()
        ref = content["application/json"]["schema"]["$ref"]
        validator = Draft202012Validator({"$ref": OPENAPI_URI + ref}, registry=self.registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{method} {path} vs {ref}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]
        )
        self.validated.setdefault(operation["operationId"], set()).add(key)
        self._check_swagger(method, template, expect, body)
        return body

    def _check_swagger(self, method: str, template: str, status: int, body: dict[str, Any]) -> None:
        path = template.removeprefix("/api")
        operation = self.swagger["paths"].get(path, {}).get(method.lower())
        if operation is None:
            return
        response = operation["responses"].get(str(status), {}).get("schema")
        if response is None or response["$ref"].split("/")[-1] in SWAGGER_STALE:
            return
        validator = Draft4Validator(
            {"$ref": SWAGGER_URI + response["$ref"]}, registry=self.registry
        )
        errors = list(validator.iter_errors(body))
        assert not errors, f"swagger {method} {path}: {errors[0].message[:300]}"
        self.swagger_validated.add(f"{method} {path} {status}")


# Swagger 2.0 definitions that contradict the (newer) 3.1 file, which wins: its
# SyncCommentsResponse allows only "status" and PollTriggerResponse forbids
# "is_end_sequence" (3.1 requires both), and its dataset answers type the items of
# source_ids as objects (they are id strings).
SWAGGER_STALE = {
    "SyncCommentsResponse",
    "PollTriggerResponse",
    "CreateDatasetResponse",
    "GetDatasetResponse",
    "UpdateDatasetResponse",
    "GetAllDatasetsResponse",
    "GetAllDatasetsInProjectResponse",
}


def test_answers_validate_against_the_spec(
    sandbox: Sandbox, openapi: dict[str, Any], swagger: dict[str, Any]
) -> None:
    c = Checker(sandbox, openapi, swagger)
    # users and projects
    users = c.call("GET", "/api/_private/users", "/api/_private/users")["users"]
    c.call("GET", "/api/v1/users", "/api/v1/users")
    c.call("GET", "/api/_private/users/{user_id}", f"/api/_private/users/{users[0]['id']}")
    c.call(
        "GET", "/api/_private/users/{user_id}", "/api/_private/users/0000000000000000", expect=404
    )
    c.call("GET", "/api/v1/projects", "/api/v1/projects")
    c.call("GET", "/api/_private/projects", "/api/_private/projects")
    c.call("GET", "/api/_private/projects/{name}", "/api/_private/projects/dev")
    c.call("GET", "/api/_private/projects/{name}", "/api/_private/projects/restricted", expect=403)
    # sources
    sources = c.call("GET", "/api/v1/sources", "/api/v1/sources")["sources"]
    c.call("GET", "/api/v1/sources/{owner}", "/api/v1/sources/dev")
    c.call("GET", "/api/v1/sources/{owner}", "/api/v1/sources/nowhere", expect=404)
    c.call("GET", SOURCE, "/api/v1/sources/dev/support-emails")
    c.call("GET", SOURCE, "/api/v1/sources/dev%2Fsupport-emails")
    c.call("GET", SOURCE, "/api/v1/sources/prod/missing", expect=404)
    c.call("GET", "/api/v1/sources/id:{source_id}", f"/api/v1/sources/id:{sources[0]['id']}")
    c.call(
        "PUT",
        SOURCE,
        "/api/v1/sources/dev/conformance",
        json_body={
            "source": {
                "title": "Conformance",
                "language": "en",
                "sensitive_properties": ["string:Channel"],
            }
        },
    )
    c.call("PUT", SOURCE, "/api/v1/sources/dev/conformance", json_body={"source": {}}, expect=409)
    c.call(
        "POST",
        SOURCE,
        "/api/v1/sources/dev/conformance",
        json_body={"source": {"description": "Updated", "bucket_id": None}},
    )
    c.call(
        "POST", SOURCE, "/api/v1/sources/prod/support-emails", json_body={"source": {}}, expect=403
    )
    # comments
    listed = c.call(
        "GET",
        "/api/_private/sources/{owner}/{source_name}/comments",
        "/api/_private/sources/dev/support-emails/comments?limit=5",
    )
    c.call(
        "GET",
        "/api/_private/sources/{owner}/{source_name}/comments",
        "/api/_private/sources/dev/support-emails/comments?limit=999",
        expect=400,
    )
    first = listed["comments"][0]
    c.call(
        "GET",
        SOURCE + "/comments/{comment_id}",
        f"/api/v1/sources/dev/support-emails/comments/{first['id']}",
    )
    c.call(
        "GET",
        SOURCE + "/comments/{comment_id}",
        "/api/v1/sources/dev/support-emails/comments/nope",
        expect=404,
    )
    c.call(
        "POST",
        SOURCE + "/sync",
        "/api/v1/sources/dev/conformance/sync",
        json_body={"comments": [COMMENT]},
    )
    c.call(
        "POST",
        SOURCE + "/sync",
        "/api/v1/sources/dev/conformance/sync",
        json_body={"comments": [{"id": 1}]},
        expect=400,
    )
    c.call(
        "PUT",
        "/api/_private/sources/{owner}/{source_name}/comments",
        "/api/_private/sources/dev/conformance/comments",
        json_body={"comments": [dict(COMMENT, id="conformance-2")]},
    )
    synced = c.call(
        "GET",
        SOURCE + "/comments/{comment_id}",
        "/api/v1/sources/dev/conformance/comments/conformance-1",
    )["comment"]
    c.call(
        "DELETE", SOURCE + "/comments", "/api/v1/sources/dev/conformance/comments?id=conformance-2"
    )
    # datasets
    c.call("GET", "/api/v1/datasets", "/api/v1/datasets")
    c.call("GET", "/api/v1/datasets/{owner}", "/api/v1/datasets/dev")
    dataset = c.call("GET", DATASET, "/api/v1/datasets/dev/support-triage")["dataset"]
    c.call(
        "PUT",
        DATASET,
        "/api/v1/datasets/dev/conformance-ds",
        json_body={
            "dataset": {
                "title": "Conformance",
                "source_ids": [synced["source_id"]],
                "label_defs": [{"name": "Billing"}, {"name": "Billing > Refund"}],
                "entity_defs": [
                    {
                        "name": "order_number",
                        "title": "Order",
                        "inherits_from": [],
                        "trainable": True,
                    }
                ],
            }
        },
    )
    c.call(
        "POST",
        DATASET,
        "/api/v1/datasets/dev/conformance-ds",
        json_body={"dataset": {"description": "Updated"}},
    )
    c.call(
        "PUT",
        DATASET,
        "/api/v1/datasets/prod/conformance-ds",
        json_body={"dataset": {}},
        expect=403,
    )
    query = "/api/_private/datasets/{owner}/{dataset_name}/query"
    page = c.call(
        "POST",
        query,
        "/api/_private/datasets/dev/support-triage/query",
        json_body={
            "order": {"kind": "recent"},
            "limit": 20,
            "filter": {
                "timestamp": {"minimum": "2024-03-01T00:00:00Z"},
                "sources": dataset["source_ids"],
            },
            "attribute_filters": [
                {
                    "attribute": "labels",
                    "filter": {"kind": "string_any_of", "any_of": ["Billing", "Account"]},
                }
            ],
        },
    )
    c.call(
        "POST",
        query,
        "/api/_private/datasets/dev/support-triage/query",
        json_body={
            "order": {"kind": "recent"},
            "continuation": page["continuation"],
            "filter": {"reviewed": "only_reviewed"},
        },
    )
    c.call(
        "POST",
        query,
        "/api/_private/datasets/dev/support-triage/query",
        json_body={"limit": 5},
        expect=400,
    )
    labellings = "/api/_private/datasets/{owner}/{dataset_name}/labellings"
    uid = page["results"][0]["comment"]["uid"]
    c.call("GET", labellings, f"/api/_private/datasets/dev/support-triage/labellings?id={uid}")
    bulk = c.call(
        "GET",
        labellings,
        "/api/_private/datasets/dev/support-triage/labellings"
        f"?source_id={dataset['source_ids'][0]}&limit=5",
    )
    c.call(
        "GET",
        labellings,
        "/api/_private/datasets/dev/support-triage/labellings"
        f"?source_id={dataset['source_ids'][0]}&after={bulk['after']}",
    )
    c.call(
        "POST",
        labellings + "/{labelling_id}",
        f"/api/_private/datasets/dev/support-triage/labellings/{uid}",
        json_body={
            "labelling": [
                {
                    "group": "default",
                    "assigned": [{"name": "Billing > Refund", "sentiment": "positive"}],
                    "dismissed": [{"name": "Other", "sentiment": "positive"}],
                }
            ]
        },
    )
    # streams
    base = "/api/v1/datasets/dev/support-triage/streams"
    c.call("GET", DATASET + "/streams", base)
    c.call(
        "PUT",
        DATASET + "/streams",
        base,
        json_body={
            "stream": {
                "name": "refunds",
                "title": "Refunds",
                "comment_filter": {"annotations": {"labels": {"one_of": ["Billing > Refund"]}}},
                "model": {
                    "version": 1,
                    "label_thresholds": [{"name": ["Billing", "Refund"], "threshold": 0.4}],
                },
            }
        },
    )
    c.call("GET", STREAM, base + "/refunds")
    c.call("POST", STREAM, base + "/refunds", json_body={"stream": {"description": "Refunds only"}})
    fetched = c.call("POST", STREAM + "/fetch", base + "/triage-queue/fetch", json_body={"size": 8})
    c.call(
        "POST",
        STREAM + "/fetch",
        base + "/refunds/fetch",
        json_body={"size": 8, "max_filtered": 16},
    )
    c.call("GET", STREAM + "/results", base + "/triage-queue/results?max_results=4")
    c.call("GET", STREAM + "/results", base + "/refunds/results?max_results=4")
    c.call(
        "POST",
        STREAM + "/advance",
        base + "/triage-queue/advance",
        json_body={"sequence_id": fetched["sequence_id"]},
    )
    c.call(
        "POST",
        STREAM + "/reset",
        base + "/triage-queue/reset",
        json_body={"to_comment_created_at": "2024-01-01T00:00:00Z"},
    )
    c.call(
        "POST",
        STREAM + "/reset",
        base + "/triage-queue/reset",
        json_body={"to_comment_created_at": "yesterday"},
        expect=422,
    )
    triggers = "/api/v1/datasets/dev/support-triage/triggers"
    c.call("GET", DATASET + "/triggers", triggers)
    c.call("PUT", DATASET + "/triggers", triggers, json_body={"trigger": {"name": "legacy"}})
    c.call("GET", DATASET + "/triggers/{trigger_name}", triggers + "/legacy")
    c.call(
        "POST",
        DATASET + "/triggers/{trigger_name}",
        triggers + "/legacy",
        json_body={"trigger": {"title": "Legacy"}},
    )
    polled = c.call(
        "POST",
        DATASET + "/triggers/{trigger_name}/fetch",
        triggers + "/legacy/fetch",
        json_body={"size": 2},
    )
    c.call(
        "POST",
        DATASET + "/triggers/{trigger_name}/advance",
        triggers + "/legacy/advance",
        json_body={"sequence_id": polled["sequence_id"]},
    )
    c.call(
        "POST",
        DATASET + "/triggers/{trigger_name}/reset",
        triggers + "/legacy/reset",
        json_body={"to_comment_created_at": "2024-06-01T00:00:00Z"},
    )
    c.call("DELETE", DATASET + "/triggers/{trigger_name}", triggers + "/legacy")
    c.call("DELETE", STREAM, base + "/refunds")
    c.call("GET", STREAM, base + "/refunds", expect=404)
    c.call(
        "GET",
        STREAM,
        "/api/v1/datasets/restricted/escalations-review/streams/triage-queue",
        expect=403,
    )
    c.call(
        "GET",
        STREAM,
        "/api/v1/datasets/restricted/escalations-review/streams/triage-queue",
        token=sandbox.admin_token,
    )

    operations_added_for_fidelity(c, sandbox, synced)

    ok = sorted(op for op, keys in c.validated.items() if "200" in keys)
    # Every operation the sandbox implements has had a successful answer validated.
    assert set(HANDLERS) - set(ok) == set()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "sandbox_conformance.json").write_text(
        json.dumps(
            {
                "openapi_operations_validated": {
                    op: sorted(keys) for op, keys in sorted(c.validated.items())
                },
                "swagger_answers_validated": sorted(c.swagger_validated),
            },
            indent=2,
        )
    )
    print(
        f"\nOpenAPI 3.1: {len(ok)} operations validated on 200 "
        f"({len(c.validated)} including error answers): {', '.join(ok)}"
    )
    print(f"Swagger 2.0: {len(c.swagger_validated)} answers validated")
    assert len(ok) == len(HANDLERS)
    assert len(c.swagger_validated) >= 10


def operations_added_for_fidelity(c: Checker, sandbox: Sandbox, synced: dict[str, Any]) -> None:
    """Projects, buckets, deletions, statistics, annotations, validation, media."""
    admin = sandbox.admin_token
    private = "/api/_private/datasets/{owner}/{dataset_name}"
    # projects
    project = "/api/_private/projects/{name}"
    c.call("PUT", project, "/api/_private/projects/conformance-lab",
           json_body={"project": {"title": "Lab"}, "user_ids": []}, expect=400)
    c.call("PUT", project, "/api/_private/projects/conformance-lab",
           json_body={"project": {"title": "Lab"}})
    c.call("POST", project, "/api/_private/projects/conformance-lab",
           json_body={"project": {"description": "Updated"}})
    c.call("GET", project + "/resource_counts",
           "/api/_private/projects/conformance-lab/resource_counts")
    # buckets
    bucket = "/api/_private/buckets/{owner}/{bucket_name}"
    created = c.call("PUT", bucket, "/api/_private/buckets/conformance-lab/mail",
                     json_body={"bucket": {"bucket_type": "emails", "title": "Mail"}})["bucket"]
    c.call("POST", bucket, "/api/_private/buckets/conformance-lab/mail",
           json_body={"bucket": {"title": "Mail (shared)"}})
    c.call("GET", bucket, "/api/_private/buckets/conformance-lab/mail")
    c.call("GET", "/api/_private/buckets/id:{bucket_id}",
           f"/api/_private/buckets/id:{created['id']}")
    c.call("GET", "/api/_private/buckets/{owner}", "/api/_private/buckets/conformance-lab")
    c.call("GET", "/api/_private/buckets", "/api/_private/buckets")
    c.call("GET", bucket + "/statistics", "/api/_private/buckets/conformance-lab/mail/statistics")
    c.call("GET", bucket, "/api/_private/buckets/dev/mail", expect=403)
    c.call("DELETE", "/api/_private/buckets/id:{raw_bucket_id}",
           f"/api/_private/buckets/id:{created['id']}")
    c.call("DELETE", project, "/api/_private/projects/conformance-lab")
    # statistics, summary, validation, annotations
    c.call("POST", SOURCE + "/statistics", "/api/v1/sources/dev%2Fsupport-emails/statistics",
           json_body={"comment_filter": {}})
    c.call("POST", private + "/statistics",
           "/api/_private/datasets/dev/support-triage/statistics",
           json_body={"comment_filter": {}, "label_timeseries": True, "time_resolution": "week",
                      "label_property_timeseries": False, "source_counts": {"limit": 5},
                      "string_user_property_counts": [{"group_by": "string:Channel"}]})
    c.call("POST", private + "/summary", "/api/_private/datasets/dev/support-triage/summary",
           json_body={"filter": {"reviewed": "only_reviewed"}})
    c.call("POST", private + "/labellers/{model_version}/label-validation",
           "/api/_private/datasets/dev/support-triage/labellers/1/label-validation",
           json_body={"label": "Billing > Refund"})
    c.call("POST", DATASET + "/sync-annotations",
           "/api/v1/datasets/dev/conformance-ds/sync-annotations",
           json_body={"annotations": [{"comment_uid": [synced["uid"]],
                                       "labels": [{"name": "New"}]}]})
    # media
    source_id = synced["source_id"]
    comment = f"/api/_private/sources/id:{source_id}/comments/{synced['id']}"
    c.call("PUT", "/api/_private/sources/id:{raw_source_id}/comments/{raw_comment_id}/audio",
           comment + "/audio", files={"file": ("a.wav", b"RIFF0000WAVE")})
    c.call("GET", "/api/_private/sources/id:{source_id}/comments/{comment_id}/audio",
           comment + "/audio")
    c.call("POST", SOURCE + "/sync", "/api/v1/sources/dev/conformance/sync", json_body={
        "comments": [dict(COMMENT, id="with-attachment", attachments=[
            {"name": "a.txt", "size": 2, "content_type": "text/plain"}])]})
    attachment = "/api/_private/sources/id:{source_id}/comments/{comment_id}/attachments/"
    c.call("PUT", attachment + "{attachment_index}",
           f"/api/_private/sources/id:{source_id}/comments/with-attachment/attachments/0",
           files={"file": ("a.txt", b"hi")})
    listed = c.call("GET", SOURCE + "/comments/{comment_id}",
                    "/api/v1/sources/dev/conformance/comments/with-attachment")["comment"]
    reference = listed["attachments"][0]["attachment_reference"]
    c.call("GET", "/api/v1/attachments/{attachment_reference}", f"/api/v1/attachments/{reference}")
    # deletions, by name and by id
    c.call("DELETE", DATASET, "/api/v1/datasets/dev/conformance-ds")
    other = c.call("PUT", DATASET, "/api/v1/datasets/dev/conformance-ds2",
                   json_body={"dataset": {"source_ids": [source_id]}})["dataset"]
    c.call("DELETE", "/api/v1/datasets/id:{dataset_id}", f"/api/v1/datasets/id:{other['id']}")
    c.call("DELETE", "/api/v1/sources/id:{source_id}", f"/api/v1/sources/id:{source_id}")
    c.call("DELETE", "/api/v1/sources/id:{source_id}", f"/api/v1/sources/id:{source_id}",
           expect=404, token=admin)
