"""Handlers for sources: list, get (by name or ``id:<hex>``), create, update, delete.

A source may name a bucket (``bucket_id``, which must exist; ``null`` detaches it) and an
email transform tag, which must be one the sandbox knows. Deleting a source deletes its
comments, their media and every dataset's annotations of them.
"""

from __future__ import annotations

from typing import Any

from ..data.sample import format_ts, now_us
from ..data.store import SourceState
from .access import Answer, Call
from .resources import by_id, readable
from .validate import Refusal, check_name, invalid

__all__ = [
    "create_source",
    "delete_source",
    "get_source",
    "get_source_by_id",
    "list_project_sources",
    "list_sources",
    "update_source",
]

# Email transform tags (a source's email parsing logic) the sandbox knows: a real tenant
# knows more, but this is the one documented as used by real clients.
TRANSFORM_TAGS = frozenset({"generic.0.CONVKER5"})


def list_sources(call: Call) -> Answer:
    return {"sources": readable(call, call.store.sources, "sources-read")}


def list_project_sources(call: Call, owner: str) -> Answer:
    return {"sources": readable(call, call.store.sources, "sources-read", owner)}


def get_source(call: Call, owner: str, source_name: str) -> Answer:
    return {"source": call.source(owner, source_name, "sources-read").meta}


def get_source_by_id(call: Call, source_id: str) -> Answer:
    return {"source": by_id(call, call.store.sources, source_id, "sources-read", "source").meta}


def create_source(call: Call, owner: str, source_name: str) -> Answer:
    call.require(owner, "sources-admin")
    check_name(source_name, "source")
    fields = _source_fields(call)
    with call.store.lock:
        if call.store.source(owner, source_name) is not None:
            raise Refusal(
                409,
                f"Source '{owner}/{source_name}' already exists; update it with "
                f"POST /api/v1/sources/{owner}/{source_name}.",
            )
        if fields.get("bucket_id", "") is None:
            del fields["bucket_id"]
        return {"source": call.store.add_source(owner, source_name, fields).meta}


def update_source(call: Call, owner: str, source_name: str) -> Answer:
    found = call.source(owner, source_name, "sources-admin")
    fields = _source_fields(call)
    stamp = format_ts(now_us())
    with call.store.lock:
        found.meta.update(fields, updated_at=stamp, last_modified=stamp)
        if found.meta.get("bucket_id", "") is None:  # null detaches the bucket
            del found.meta["bucket_id"]
        call.store.touch()
        return {"source": found.meta}


def delete_source(call: Call, source_id: str) -> Answer:
    # The spec names no permission for deleteSource; deleting needs sources-admin here.
    found: SourceState = by_id(call, call.store.sources, source_id, "sources-admin", "source")
    with call.store.lock:
        call.store.delete_source(found)
    return {}


def _source_fields(call: Call) -> dict[str, Any]:
    """The ``source`` of a request (the spec's schema already checked), as stored."""
    raw: dict[str, Any] = dict(call.body()["source"])
    tag = raw.get("email_transform_tag")
    if tag is not None and tag not in TRANSFORM_TAGS:
        raise Refusal(422, f"The value '{tag}' is not a valid transform tag.")
    bucket = raw.get("bucket_id")
    if bucket is not None and bucket not in call.store.buckets:
        raise invalid(
            "source.bucket_id",
            f"names {bucket!r}, which is not a bucket id (see GET /api/_private/buckets)",
        )
    return raw
