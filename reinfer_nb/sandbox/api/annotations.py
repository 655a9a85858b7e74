"""What a dataset says about a comment: labels (assigned, dismissed, predicted) and
entities, as ``AnnotatedComment`` JSON, and the labelling updates clients send.

Seeded datasets annotate generated comments: about a fifth are reviewed (labels assigned),
and all carry predictions. Labellings written through the API replace the assigned and
dismissed labels of a comment.
"""

from __future__ import annotations

from typing import Any

from ..data.sample import Span
from .filters import LabelView
from ..data.store import DatasetState, Ref, Store
from .validate import Refusal, invalid

__all__ = ["annotated", "label_view", "parse_labelling"]


def label_view(dataset: DatasetState, ref: Ref) -> LabelView:
    """The labels of ``ref`` in ``dataset``, cheaply (nothing is rendered)."""
    reviewed = False
    assigned: tuple[str, ...] = ()
    predicted: tuple[str, ...] = ()
    if dataset.generated and ref.k >= 0:
        facts = ref.source.gen.facts(ref.k)
        predicted = facts.labels
        if facts.reviewed:
            reviewed, assigned = True, facts.labels
    stored = dataset.labellings.get(ref.uid)
    if stored is not None:
        reviewed = True
        assigned = tuple(label["name"] for label in stored["assigned"])
    return LabelView(reviewed, assigned, predicted)


def annotated(store: Store, dataset: DatasetState, ref: Ref) -> dict[str, Any]:
    """``ref`` as an ``AnnotatedComment`` of ``dataset``."""
    comment, facts, spans = store.render(ref)
    group: dict[str, Any] = {"group": "default", "assigned": [], "dismissed": []}
    entities: dict[str, list[dict[str, Any]]] = {"assigned": [], "dismissed": [], "predicted": []}
    if dataset.generated and facts is not None:
        def_ids = {d["name"]: d["id"] for d in dataset.meta["entity_defs"]}
        spans = [s for s in spans if s.kind in def_ids]
        group["predicted"] = [
            {"name": name, "probability": p} for name, p in ref.source.gen.predictions(ref.k, facts)
        ]
        entities["predicted"] = [_predicted_entity(s, def_ids[s.kind]) for s in spans]
        if facts.reviewed:
            group["assigned"] = [{"name": name, "sentiment": "positive"} for name in facts.labels]
            entities["assigned"] = [_entity(s, def_ids[s.kind]) for s in spans]
    stored = dataset.labellings.get(ref.uid)
    if stored is not None:
        group["assigned"], group["dismissed"] = stored["assigned"], stored["dismissed"]
    comment["has_annotations"] = bool(group["assigned"] or group["dismissed"])
    return {"comment": comment, "labelling": [group], "entities": entities}


def parse_labelling(body: dict[str, Any], label_names: set[str]) -> dict[str, Any]:
    """The ``labelling`` of an update request (the spec's schema already checked) as
    ``{"assigned": [...], "dismissed": [...]}``."""
    for key in ("entities", "moon_forms"):
        if key in body:
            raise Refusal(
                422,
                f"Invalid request: '{key}' is not supported by the sandbox; send 'labelling' only.",
            )
    result: dict[str, list[dict[str, Any]]] = {"assigned": [], "dismissed": []}
    for i, group in enumerate(body.get("labelling", [])):
        for key in ("assigned", "dismissed"):
            for j, label in enumerate(group.get(key, [])):
                if label["name"] not in label_names:
                    raise invalid(
                        f"labelling[{i}].{key}[{j}].name",
                        f"{label['name']!r} is not a label of this dataset (see its label_defs)",
                    )
                result[key].append({"name": label["name"], "sentiment": label["sentiment"]})
    return result


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
