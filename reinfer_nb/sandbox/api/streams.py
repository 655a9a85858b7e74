"""Handlers for streams: define them, and consume a dataset's comments in creation order.

A stream's cursor is the key ``(created_at, uid)`` of the last comment advanced past.
``fetch`` (legacy) and ``results`` return the next batch without moving the cursor, so
they repeat until ``advance`` is called with a ``sequence_id``/``continuation``; ``reset``
moves the cursor back (or forward) to a creation time. New streams start at the beginning
of the dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..data.paging import encode_token, iterate, since
from ..data.sample import format_ts, now_us, stream_json
from ..data.store import DatasetState, Key, Ref, StreamState
from .access import Answer, Call
from .filters import Subject, parse_filter
from .validate import Refusal, check_name, invalid, timestamp

__all__ = [
    "advance_stream",
    "create_stream",
    "delete_stream",
    "fetch_stream",
    "get_stream",
    "legacy_trigger",
    "list_streams",
    "reset_stream",
    "stream_results",
    "update_stream",
]

START: Key = (-(2**62), "")  # before every comment


def list_streams(call: Call, owner: str, dataset_name: str) -> Answer:
    found = call.dataset(owner, dataset_name, "voc-readonly", "triggers-read")
    with call.store.lock:
        return {"streams": [s.meta for s in found.streams.values()]}


def get_stream(call: Call, owner: str, dataset_name: str, stream_name: str) -> Answer:
    found = call.stream(owner, dataset_name, stream_name, "voc-readonly", "triggers-read")
    return {"stream": found[1].meta}


def create_stream(call: Call, owner: str, dataset_name: str) -> Answer:
    found = call.dataset(owner, dataset_name, "voc-readonly", "triggers-admin")
    raw = _stream_object(call.body(), found)
    if "name" not in raw:
        raise invalid("stream.name", "is required to create a stream")
    name = raw["name"]
    check_name(name, "stream")
    with call.store.lock:
        if name in found.streams:
            raise Refusal(
                409,
                f"Stream '{name}' already exists in '{found.full_name}'; update it "
                f"with POST /api/v1/datasets/{found.full_name}/streams/{name}.",
            )
        meta = stream_json(
            call.store.seed,
            found.meta["id"],
            name,
            raw.get("title", ""),
            raw.get("description", ""),
            raw.get("comment_filter", {}),
            raw.get("model"),
            now_us(),
        )
        found.streams[name] = StreamState(meta)
        return {"stream": meta}


def update_stream(call: Call, owner: str, dataset_name: str, stream_name: str) -> Answer:
    found, state = call.stream(owner, dataset_name, stream_name, "voc-readonly", "triggers-write")
    raw = _stream_object(call.body(), found)
    if raw.get("name", stream_name) != stream_name:
        raise invalid("stream.name", "cannot be changed")
    with call.store.lock:
        state.meta.update({k: v for k, v in raw.items() if k != "name"})
        if raw.get("model", ...) is None:
            state.meta.pop("model", None)
        state.meta["updated_at"] = format_ts(now_us())
        return {"stream": state.meta}


def delete_stream(call: Call, owner: str, dataset_name: str, stream_name: str) -> Answer:
    found, _ = call.stream(owner, dataset_name, stream_name, "voc-readonly", "triggers-admin")
    with call.store.lock:
        found.streams.pop(stream_name, None)
    return {}


def _stream_object(body: dict[str, Any], dataset: DatasetState) -> dict[str, Any]:
    """The ``stream`` of a request (the spec's schema already checked), its filter parsed."""
    raw: dict[str, Any] = body["stream"]
    if "comment_filter" in raw:
        parse_filter(
            raw["comment_filter"], "stream.comment_filter", dataset.meta["source_ids"], dataset
        )
    return raw


def legacy_trigger(handler: Callable[..., Answer]) -> Callable[..., Answer]:
    """The legacy ``.../triggers`` route of a stream handler: ``trigger`` for ``stream``."""
    renames = {"stream": "trigger", "streams": "triggers"}

    def legacy(call: Call, owner: str, dataset_name: str, **params: str) -> Answer:
        body = call.body() if call.method in ("PUT", "POST") else {}
        if "trigger" in body:
            body["stream"] = body.pop("trigger")
        if "trigger_name" in params:
            params["stream_name"] = params.pop("trigger_name")
        answer = handler(call, owner, dataset_name, **params)
        return {renames.get(key, key): value for key, value in answer.items()}

    return legacy


# -- consuming ---------------------------------------------------------------------------


def fetch_stream(call: Call, owner: str, dataset_name: str, stream_name: str) -> Answer:
    """The legacy batch: ``results`` with ``sequence_id``s, ``filtered``, ``is_end_sequence``."""
    found, state = call.stream(owner, dataset_name, stream_name, "voc-readonly", "triggers-consume")
    body = call.body()
    size = body["size"]
    max_filtered = body.get("max_filtered", 1024)
    with call.store.lock:
        refs, filtered, last, end = _batch(call, found, state, size, max_filtered)
        results = []
        for ref in refs:
            result: dict[str, Any] = {
                "comment": call.store.render(ref)[0],
                "sequence_id": encode_token(ref.key),
            }
            if "model" in state.meta:
                result["labels"] = [
                    {"name": name.split(" > "), "probability": p}
                    for name, p in _predictions(found, state, ref)
                ]
            results.append(result)
    return {
        "results": results,
        "filtered": filtered,
        "sequence_id": encode_token(last),
        "is_end_sequence": end,
    }


def stream_results(call: Call, owner: str, dataset_name: str, stream_name: str) -> Answer:
    """The current batch: ``results`` with ``continuation`` each, ``more_results``."""
    found, state = call.stream(owner, dataset_name, stream_name, "voc-readonly", "triggers-consume")
    size = call.int_param("max_results", 1, 1024, 16)
    max_filtered = call.int_param("max_filtered", 1, 1024, 1024)
    with call.store.lock:
        refs, filtered, last, end = _batch(call, found, state, size, max_filtered)
        results = [
            {
                "comment": call.store.render(ref)[0],
                "prediction": _prediction(found, state, ref),
                "continuation": encode_token(ref.key),
            }
            for ref in refs
        ]
    return {
        "results": results,
        "num_filtered": filtered,
        "more_results": not end,
        "continuation": encode_token(last),
    }


def advance_stream(call: Call, owner: str, dataset_name: str, stream_name: str) -> Answer:
    _, state = call.stream(owner, dataset_name, stream_name, "voc-readonly", "triggers-consume")
    sequence_id = call.body()["sequence_id"]
    key = call.token_param("sequence_id", sequence_id)
    with call.store.lock:
        state.cursor = key
    return {"sequence_id": sequence_id}


def reset_stream(call: Call, owner: str, dataset_name: str, stream_name: str) -> Answer:
    _, state = call.stream(owner, dataset_name, stream_name, "voc-readonly", "triggers-consume")
    key = since(timestamp(call.body()["to_comment_created_at"], "to_comment_created_at"))
    with call.store.lock:
        state.cursor = key
        return {"sequence_id": encode_token(key), "stream": state.meta}


def _batch(
    call: Call, dataset: DatasetState, state: StreamState, size: int, max_filtered: int
) -> tuple[list[Ref], int, Key, bool]:
    """The next ``size`` comments passing the stream's filter after its cursor.

    Returns them, how many were filtered out, the key of the last comment looked at,
    and whether the dataset has nothing after it.
    """
    flt = parse_filter(
        state.meta.get("comment_filter", {}), "comment_filter", dataset.meta["source_ids"], dataset
    )
    store = call.store
    refs: list[Ref] = []
    filtered = 0
    last = state.cursor or START
    for ref in iterate(store.dataset_sources(dataset), after=state.cursor, by_created=True):
        if len(refs) == size:
            return refs, filtered, last, False
        if flt.keep(Subject(store, dataset, ref)):
            refs.append(ref)
        elif filtered == max_filtered:
            return refs, filtered, last, False
        else:
            filtered += 1
        last = ref.key
    return refs, filtered, last, True


def _predictions(dataset: DatasetState, state: StreamState, ref: Ref) -> list[tuple[str, float]]:
    """``(label, probability)`` for the stream model's labels that clear their threshold."""
    if not dataset.generated or ref.k < 0:
        return []
    thresholds = {
        " > ".join(t["name"]): t.get("threshold", 0.5)
        for t in state.meta.get("model", {}).get("label_thresholds", [])
    }
    gen = ref.source.gen
    return [
        (name, p)
        for name, p in gen.predictions(ref.k, gen.facts(ref.k))
        if name in thresholds and p >= thresholds[name]
    ]


def _prediction(dataset: DatasetState, state: StreamState, ref: Ref) -> dict[str, Any] | None:
    if "model" not in state.meta:
        return None
    labels = [
        {
            "name": name,
            "occurrence_confidence": {"value": p, "thresholds": ["stream"]},
            "extraction_confidence": {"value": p, "thresholds": []},
            "fields": [],
        }
        for name, p in _predictions(dataset, state, ref)
    ]
    return {
        "taxonomies": [{"name": "default", "labels": labels, "general_fields": []}],
        "scores": [],
    }
