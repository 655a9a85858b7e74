"""Handlers for buckets (where raw emails land): list (all, by project), get (by name or
``id:<hex>``), create, update, delete by id, and statistics.

Permissions: ``buckets-read`` to see a project's buckets, ``buckets-write`` to change
them (the spec names none for these operations). Adding emails to a bucket is not
implemented (501), so a bucket's count is exact and stays 0.
"""

from __future__ import annotations

from ..data.sample import format_ts, hex_id, now_us
from ..data.store import BucketState
from .access import Answer, Call
from .resources import by_id, readable
from .validate import Refusal, check_name

__all__ = [
    "bucket_statistics",
    "create_bucket",
    "delete_bucket",
    "get_bucket",
    "get_bucket_by_id",
    "list_buckets",
    "list_project_buckets",
    "update_bucket",
]



def list_buckets(call: Call) -> Answer:
    return {"buckets": readable(call, call.store.buckets, "buckets-read")}


def list_project_buckets(call: Call, owner: str) -> Answer:
    return {"buckets": readable(call, call.store.buckets, "buckets-read", owner)}


def get_bucket(call: Call, owner: str, bucket_name: str) -> Answer:
    return {"bucket": _bucket(call, owner, bucket_name, "buckets-read").meta}


def get_bucket_by_id(call: Call, bucket_id: str) -> Answer:
    return {"bucket": by_id(call, call.store.buckets, bucket_id, "buckets-read", "bucket").meta}


def create_bucket(call: Call, owner: str, bucket_name: str) -> Answer:
    call.require(owner, "buckets-write")
    check_name(bucket_name, "bucket")
    fields = call.body()["bucket"]
    with call.store.lock:
        if call.store.bucket(owner, bucket_name) is not None:
            raise Refusal(
                409,
                f"Bucket '{owner}/{bucket_name}' already exists; update it with "
                f"POST /api/_private/buckets/{owner}/{bucket_name}.",
            )
        stamp = format_ts(now_us())
        meta = {
            "id": hex_id(call.store.seed, "bucket", owner, bucket_name),
            "owner": owner,
            "name": bucket_name,
            "title": fields.get("title", ""),
            "created_at": stamp,
            "updated_at": stamp,
        }
        return {"bucket": call.store.add_bucket(meta).meta}


def update_bucket(call: Call, owner: str, bucket_name: str) -> Answer:
    found = _bucket(call, owner, bucket_name, "buckets-write")
    with call.store.lock:
        found.meta.update(call.body()["bucket"], updated_at=format_ts(now_us()))
        call.store.touch()
        return {"bucket": found.meta}


def delete_bucket(call: Call, raw_bucket_id: str) -> Answer:
    found: BucketState = by_id(call, call.store.buckets, raw_bucket_id, "buckets-write", "bucket")
    with call.store.lock:
        call.store.delete_bucket(found)
    return {}


def bucket_statistics(call: Call, owner: str, bucket_name: str) -> Answer:
    _bucket(call, owner, bucket_name, "buckets-read")
    return {"statistics": {"count": {"kind": "exact", "value": 0}}}


def _bucket(call: Call, owner: str, name: str, permission: str) -> BucketState:
    call.require(owner, permission)
    found = call.store.bucket(owner, name)
    if found is None:
        raise Refusal(
            404,
            f"Bucket '{owner}/{name}' not found. List the buckets with "
            f"GET /api/_private/buckets/{owner}.",
        )
    return found
