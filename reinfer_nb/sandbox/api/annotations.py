"""What a dataset says about a comment, as ``AnnotatedComment`` JSON, and the annotation
writes clients send (labelling updates, bulk annotations).

Seeded datasets annotate their generated comments (about a fifth are reviewed: labels and
entities assigned) and predict labels and entities for all of them. A write replaces what
it names (``labelling``, ``entities``) and keeps the rest; labels a dataset does not define
yet join its taxonomy, as on a real tenant.
"""

from __future__ import annotations

from typing import Any

from ..data.sample import Span
from ..data.store import DatasetState, Ref, Store
from .validate import Refusal, invalid

__all__ = ["annotated", "apply_update", "current_labelling", "entity_kinds_assigned"]


def annotated(store: Store, dataset: DatasetState, ref: Ref) -> dict[str, Any]:
    """``ref`` as an ``AnnotatedComment`` of ``dataset``."""
    comment, facts, spans = store.render(ref)
    group: dict[str, Any] = {"group": "default", "assigned": [], "dismissed": []}
    entities: dict[str, list[dict[str, Any]]] = {"assigned": [], "dismissed": [], "predicted": []}
    def_ids = {d["name"]: d["id"] for d in dataset.meta["entity_defs"]}
    spans = [s for s in spans if s.kind in def_ids]
    if dataset.generated and facts is not None:
        group["predicted"] = [
            {"name": name, "probability": p} for name, p in ref.source.gen.predictions(ref.k, facts)
        ]
        entities["predicted"] = [_predicted_entity(s, def_ids[s.kind]) for s in spans]
    labelling = current_labelling(store, dataset, ref, spans)
    group["assigned"], group["dismissed"] = labelling["assigned"], labelling["dismissed"]
    if "uninformative" in labelling:
        group["uninformative"] = labelling["uninformative"]
    entities["assigned"] = labelling["entities"]["assigned"]
    entities["dismissed"] = labelling["entities"]["dismissed"]
    return {"comment": comment, "labelling": [group], "entities": entities}


def current_labelling(
    store: Store, dataset: DatasetState, ref: Ref, spans: list[Span] | None = None
) -> dict[str, Any]:
    """The annotations ``dataset`` holds for ``ref``: written ones, else the samples."""
    stored = dataset.labellings.get(ref.uid)
    if stored is not None:
        return stored
    empty: dict[str, Any] = {
        "assigned": [],
        "dismissed": [],
        "entities": {"assigned": [], "dismissed": []},
    }
    if not store.sample_annotated(dataset, ref):
        return empty
    facts = ref.source.gen.facts(ref.k)
    if not facts.reviewed:
        return empty
    if spans is None:
        spans = store.render(ref)[2]
    def_ids = {d["name"]: d["id"] for d in dataset.meta["entity_defs"]}
    return {
        "assigned": [{"name": name, "sentiment": "positive"} for name in facts.labels],
        "dismissed": [],
        "entities": {
            "assigned": [_entity(s, def_ids[s.kind]) for s in spans if s.kind in def_ids],
            "dismissed": [],
        },
    }


def entity_kinds_assigned(store: Store, dataset: DatasetState, ref: Ref) -> list[str]:
    return [e["kind"] for e in current_labelling(store, dataset, ref)["entities"]["assigned"]]


def apply_update(
    store: Store, dataset: DatasetState, ref: Ref, body: dict[str, Any]
) -> dict[str, Any]:
    """The labelling after an ``UpdateCommentLabellingRequest`` (schema-checked) on ``ref``:
    ``labelling`` replaces the labels, ``entities`` the entities; the rest is kept."""
    if body.get("moon_forms"):
        raise Refusal(
            422, "Invalid request: moon_forms are not supported by the sandbox; send "
            "labelling and entities."
        )
    current = current_labelling(store, dataset, ref)
    new: dict[str, Any] = {
        "assigned": list(current["assigned"]),
        "dismissed": list(current["dismissed"]),
        "entities": dict(current["entities"]),
    }
    if "labelling" in body:
        new["assigned"], new["dismissed"] = [], []
        for group in body["labelling"]:
            for key in ("assigned", "dismissed"):
                new[key] += [
                    {"name": x["name"], "sentiment": x["sentiment"]} for x in group.get(key, [])
                ]
            if "uninformative" in group:
                new["uninformative"] = group["uninformative"]
    elif "uninformative" in current:
        new["uninformative"] = current["uninformative"]
    if "entities" in body:
        comment = store.render(ref)[0]
        new["entities"] = {
            key: [
                _written_entity(e, dataset, comment, f"entities.{key}[{i}]")
                for i, e in enumerate(body["entities"].get(key, []))
            ]
            for key in ("assigned", "dismissed")
        }
    return new


def _written_entity(
    raw: dict[str, Any], dataset: DatasetState, comment: dict[str, Any], where: str
) -> dict[str, Any]:
    """An ``EntityNew`` as the ``Entity`` the API returns (offsets in chars and UTF-16)."""
    wanted = {raw.get(k) for k in ("name", "kind", "id", "field_id")} - {None}
    found = next(
        (d for d in dataset.meta["entity_defs"] if wanted & {d["name"], d["id"]}), None
    )
    if found is None:
        raise invalid(where, "names no entity of this dataset (see its entity_defs)")
    spans = raw.get("spans") or ([raw["span"]] if "span" in raw else [])
    return {
        "id": found["id"],
        "name": found["name"],
        "kind": found["name"],
        "formatted_value": raw["formatted_value"],
        "spans": [_text_span(s, comment, f"{where}.spans[{i}]") for i, s in enumerate(spans)],
        "field_id": found["id"],
    }


def _text_span(span: dict[str, Any], comment: dict[str, Any], where: str) -> dict[str, Any]:
    messages = comment.get("messages", [])
    index = span["message_index"]
    part = messages[index].get(span["content_part"]) if index < len(messages) else None
    if not isinstance(part, dict):
        raise invalid(where, "points at a message part the comment does not have")
    text = part.get("text", "")
    if "char_start" in span:
        start, end = span["char_start"], span["char_end"]
    else:
        start, end = _char(text, span["utf16_byte_start"]), _char(text, span["utf16_byte_end"])
    if not 0 <= start <= end <= len(text):
        raise invalid(where, f"is outside the text ({len(text)} characters)")
    return {
        "content_part": span["content_part"],
        "message_index": index,
        "char_start": start,
        "char_end": end,
        "utf16_byte_start": len(text[:start].encode("utf-16-le")),
        "utf16_byte_end": len(text[:end].encode("utf-16-le")),
    }


def _char(text: str, utf16_bytes: int) -> int:
    """The character offset at a UTF-16 byte offset (-1 if it is not on a character)."""
    seen = 0
    for i, ch in enumerate(text):
        if seen >= utf16_bytes:
            return i if seen == utf16_bytes else -1
        seen += 4 if ord(ch) > 0xFFFF else 2
    return len(text) if seen == utf16_bytes else -1


def _span(span: Span) -> dict[str, Any]:
    # Generated bodies hold only BMP characters: one UTF-16 unit (two bytes) each.
    return {
        "content_part": "body",
        "message_index": 0,
        "char_start": span.start,
        "char_end": span.end,
        "utf16_byte_start": 2 * span.start,
        "utf16_byte_end": 2 * span.end,
    }


def _entity(span: Span, def_id: str) -> dict[str, Any]:
    return {
        "id": def_id,
        "name": span.kind,
        "kind": span.kind,
        "formatted_value": span.value,
        "field_id": def_id,
        "spans": [_span(span)],
    }


def _predicted_entity(span: Span, def_id: str) -> dict[str, Any]:
    return {
        "id": def_id,
        "name": span.kind,
        "kind": span.kind,
        "formatted_value": span.value,
        "span": _span(span),
        "spans": [_span(span)],
        "probability": 0.97,
        "capture_ids": [],
    }
