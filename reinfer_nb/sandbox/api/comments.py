"""Handlers for comments: paging a source, one comment, sync/add/delete, the dataset
query, and labellings.

Paging is keyset paging (see :mod:`.paging`): ``continuation`` is the key of the last
result, absent on the last page.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..data.paging import encode_token, iterate, since, take, until
from ..data.sample import now_us, parse_ts
from ..data.store import DatasetState, Ref, SourceState
from .access import Answer, Call
from .annotations import annotated, apply_update
from .filters import Subject, parse_attribute_filters, parse_filter
from .validate import Refusal, invalid, timestamp

__all__ = [
    "add_comments",
    "delete_comments",
    "get_comment",
    "get_labellings",
    "list_comments",
    "query_dataset",
    "sync_annotations",
    "sync_comments",
    "update_labelling",
]

MAX_IDS = 128
MAX_BATCH = 4096
PROPERTY = re.compile(r"(string|number):\w.{0,63}", re.DOTALL)


def list_comments(call: Call, owner: str, source_name: str) -> Answer:
    found = call.source(owner, source_name, "sources-read")
    limit = call.int_param("limit", 1, 256, 64)
    direction = call.param("direction") or "ascending"
    if direction not in ("ascending", "descending"):
        raise Refusal(
            400,
            f"Invalid query parameter: 'direction' must be 'ascending' or "
            f"'descending', got {direction!r}.",
        )
    low, high = _time_param(call, "from_timestamp"), _time_param(call, "to_timestamp")
    descending = direction == "descending"
    if descending and (low is not None or high is not None):
        raise Refusal(
            400,
            "Invalid query: from_timestamp and to_timestamp cannot be used with "
            "direction=descending.",
        )
    after = call.token_param("after")
    if low is not None:
        after = max(after, since(low)) if after else since(low)
    with call.store.lock:
        refs, more = take(
            iterate([found], after=after, descending=descending),
            limit,
            stop=None if high is None else (lambda r: r.us > high),
        )
        answer: Answer = {"comments": [call.store.render(r)[0] for r in refs]}
    if more:
        answer["continuation"] = encode_token(refs[-1].key)
    return answer


def _time_param(call: Call, name: str) -> int | None:
    text = call.param(name)
    if text is None:
        return None
    try:
        return parse_ts(text)
    except ValueError as exc:
        raise Refusal(400, f"Invalid query parameter '{name}': {exc}.") from None


def get_comment(call: Call, owner: str, source_name: str, comment_id: str) -> Answer:
    found = call.source(owner, source_name, "sources-read")
    with call.store.lock:
        comment = call.store.comment(found, comment_id)
    if comment is None:
        raise Refusal(404, f"Comment '{comment_id}' not found in source '{owner}/{source_name}'.")
    return {"comment": comment}


def delete_comments(call: Call, owner: str, source_name: str) -> Answer:
    found = call.source(owner, source_name, "sources-add-comments")
    ids = call.params("id") + [i for v in call.params("ids") for i in v.split(",") if i]
    if not ids or len(ids) > MAX_IDS:
        raise Refusal(
            400,
            f"Send 1 to {MAX_IDS} comment ids to delete as ?id=a&id=b "
            f"(or ?ids=a,b); got {len(ids)}.",
        )
    with call.store.lock:
        call.store.delete(found, ids)
    return {}


def new_comments(body: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """The ``comments`` of a sync/add request (the spec's schema already checked) as
    (JSON to store, timestamp in µs); 422 for what the schema cannot say."""
    comments = body["comments"]
    if len(comments) > MAX_BATCH:
        raise invalid(
            "comments", f"has {len(comments)} items; send at most {MAX_BATCH} per request"
        )
    out = []
    seen: set[str] = set()
    now = now_us()
    for i, raw in enumerate(comments):
        where = f"comments[{i}]"
        if raw["id"] in seen:
            raise invalid(f"{where}.id", f"repeats the id {raw['id']!r} of an earlier comment")
        seen.add(raw["id"])
        us = timestamp(raw["timestamp"], f"{where}.timestamp") if "timestamp" in raw else now
        for j, message in enumerate(raw.get("messages", [])):
            if "sent_at" in message:
                timestamp(message["sent_at"], f"{where}.messages[{j}].sent_at")
        _check_properties(raw.get("user_properties", {}), f"{where}.user_properties")
        comment = {k: v for k, v in raw.items() if k != "timestamp"}
        comment.setdefault("messages", [])
        comment.setdefault("user_properties", {})
        comment.setdefault("attachments", [])
        out.append((comment, us))
    return out


def _check_properties(properties: dict[str, Any], where: str) -> None:
    for key, value in properties.items():
        if not PROPERTY.fullmatch(key):
            raise invalid(
                f"{where} key {key!r}",
                "must start with 'string:' or 'number:' followed by a name of up to "
                "64 characters, e.g. 'string:Channel' or 'number:NPS'",
            )
        if key.startswith("string:") and not isinstance(value, str):
            raise invalid(f"{where}[{key!r}]", f"must be a string, not {value!r}")
        if key.startswith("number:") and (
            not isinstance(value, (int, float)) or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise invalid(f"{where}[{key!r}]", f"must be a finite number, not {value!r}")


def sync_comments(call: Call, owner: str, source_name: str) -> Answer:
    found = call.source(owner, source_name, "sources-add-comments")
    comments = new_comments(call.body())
    with call.store.lock:
        counts = call.store.upsert(found, comments)
    return {
        "new": counts.new,
        "updated": counts.updated_text_changed + counts.updated_properties_only,
        "updated_text_changed": counts.updated_text_changed,
        "updated_properties_only": counts.updated_properties_only,
        "unchanged": counts.unchanged,
    }


def add_comments(call: Call, owner: str, source_name: str) -> Answer:
    """PUT: add new comments; ids that already hold different content are a conflict."""
    found = call.source(owner, source_name, "sources-add-comments")
    comments = new_comments(call.body())
    with call.store.lock:
        try:
            call.store.upsert(found, comments, overwrite=False)
        except KeyError as exc:
            ids = ", ".join(repr(i) for i in exc.args[0][:5])
            raise Refusal(
                409,
                f"Comments already exist with different content (ids {ids}); nothing "
                f"was written. Update them with POST /api/v1/sources/{owner}/{source_name}/sync.",
            ) from None
    return {}


# -- datasets: query and labellings ---------------------------------------------------------


def query_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    """``order: recent``: newest first, optionally filtered."""
    found = call.dataset(owner, dataset_name, "voc-readonly")
    body = call.body()
    kind = body["order"].get("kind")
    if kind != "recent":
        raise Refusal(
            422,
            f"Invalid request: order kind {kind!r} is not supported by the sandbox; "
            'use {"kind": "recent"}.',
        )
    limit = body.get("limit", 64)
    if not 1 <= limit <= 1024:
        raise invalid("limit", f"must be from 1 to 1024, not {limit}")
    limit = call.int_param("limit", 1, 1024, limit)
    after = call.token_param("continuation", call.param("continuation") or body.get("continuation"))
    flt = parse_filter(body.get("filter", {}), "filter", found.meta["source_ids"], found)
    if body.get("attribute_filters"):
        flt = parse_attribute_filters(body["attribute_filters"], flt, found)
    if flt.max_us is not None:
        after = min(after, until(flt.max_us)) if after else until(flt.max_us)
    low = flt.min_us
    with call.store.lock:
        refs, more = take(
            iterate(call.store.dataset_sources(found), after=after, descending=True),
            limit,
            keep=lambda r: flt.keep(Subject(call.store, found, r)),
            stop=None if low is None else (lambda r: r.us < low),
        )
        answer: Answer = {
            "results": [annotated(call.store, found, r) for r in refs],
            "entity_defs": found.meta["entity_defs"],
        }
    if more:
        answer["continuation"] = encode_token(refs[-1].key)
    return answer


def get_labellings(call: Call, owner: str, dataset_name: str) -> Answer:
    """By uid (``id=``, repeatable), or the reviewed comments of ``source_id`` (by ``after``)."""
    found = call.dataset(owner, dataset_name, "voc-readonly")
    uids = call.params("id") + [i for v in call.params("ids") for i in v.split(",") if i]
    source_id = call.param("source_id")
    if uids:
        if len(uids) > MAX_IDS:
            raise Refusal(400, f"Send at most {MAX_IDS} ids per request; got {len(uids)}.")
        allow_missing = (call.param("allow_missing") or "").lower() == "true"
        with call.store.lock:
            refs = [r for r in (_ref(call, found, uid, allow_missing) for uid in uids) if r]
            results = [annotated(call.store, found, r) for r in refs]
        return {"results": results, "entity_defs": found.meta["entity_defs"]}
    if source_id is None:
        raise Refusal(
            400,
            "Send id=<comment uid> (repeatable) or source_id=<source id> "
            "(with after= and limit= to page).",
        )
    source = _dataset_source(call, found, source_id)
    limit = call.int_param("limit", 1, 999, 128)
    after = call.token_param("after")
    predictions = (call.param("return_predictions") or "true").lower() != "false"
    with call.store.lock:
        refs, _ = take(
            iterate([source], after=after),
            limit,
            keep=lambda r: call.store.view(found, r).reviewed,
        )
        results = [annotated(call.store, found, r) for r in refs]
        answer: Answer = {"results": results, "entity_defs": found.meta["entity_defs"]}
    if not predictions:
        for result in results:
            result["labelling"][0].pop("predicted", None)
            result["entities"]["predicted"] = []
    if refs:  # clients stop on an empty page
        answer["after"] = encode_token(refs[-1].key)
    return answer


def update_labelling(call: Call, owner: str, dataset_name: str, labelling_id: str) -> Answer:
    """Labels and entities of one comment (by uid); new labels join the taxonomy."""
    found = call.dataset(owner, dataset_name, "voc")
    with call.store.lock:
        ref = _ref(call, found, labelling_id, allow_missing=False)
        assert ref is not None
        call.store.set_labelling(found, ref.uid, apply_update(call.store, found, ref, call.body()))
        return annotated(call.store, found, ref)


def sync_annotations(call: Call, owner: str, dataset_name: str) -> Answer:
    """Assign labels to comments in bulk (each names its comment as ``[source id, comment
    id]`` or by uids); the labels replace the comment's labels, new ones join the taxonomy."""
    found = call.dataset(owner, dataset_name, "voc")
    annotations = call.body()["annotations"]
    with call.store.lock:
        plans = []
        for i, item in enumerate(annotations):
            parts = item["comment_uid"]
            uids = [".".join(parts)] if len(parts) == 2 and "." not in parts[0] else parts
            for uid in uids:
                ref = _ref(call, found, uid, allow_missing=True)
                if ref is None:
                    raise invalid(
                        f"annotations[{i}].comment_uid",
                        f"names {uid!r}, which is not a comment of this dataset",
                    )
                labels = [
                    {"name": label["name"], "sentiment": "positive"}
                    for label in item.get("labels", [])
                ]
                plans.append((ref, labels))
        for ref, labels in plans:
            new = apply_update(call.store, found, ref, {"labelling": [{"assigned": labels}]})
            call.store.set_labelling(found, ref.uid, new)
    return {}


def _dataset_source(call: Call, dataset: DatasetState, source_id: str) -> SourceState:
    source = call.store.sources.get(source_id)
    if source is None or source_id not in dataset.meta["source_ids"]:
        raise Refusal(
            404,
            f"Source '{source_id}' is not in dataset '{dataset.full_name}'; use "
            "an id from its source_ids.",
        )
    return source


def _ref(call: Call, dataset: DatasetState, uid: str, allow_missing: bool) -> Ref | None:
    source_id, _, comment_id = uid.partition(".")
    source = call.store.sources.get(source_id)
    ref = None
    if source is not None and source_id in dataset.meta["source_ids"] and comment_id:
        ref = call.store.ref(source, comment_id)
    if ref is None and not allow_missing:
        raise Refusal(
            404,
            f"Comment '{uid}' not found in dataset '{dataset.full_name}'; a uid is "
            "<source id>.<comment id>.",
        )
    return ref
