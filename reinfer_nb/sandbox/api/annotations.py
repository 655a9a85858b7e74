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
from .validate import Refusal, check_keys, invalid, need_object

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
    """The ``labelling`` of an update request as ``{"assigned": [...], "dismissed": [...]}``."""
    check_keys(body, ("labelling", "context", "entities", "moon_forms"), "the body")
    for key in ("entities", "moon_forms"):
        if key in body:
            raise Refusal(
                422,
                f"Invalid request: '{key}' is not supported by the sandbox; send 'labelling' only.",
            )
    raw = body.get("labelling")
    if isinstance(raw, dict):  # the legacy form: one group, no name
        raw = [dict(raw, group="default")]
    if not isinstance(raw, list):
        raise invalid(
            "'labelling'",
            'must be a list, e.g. [{"group": "default", "assigned": '
            '[{"name": "Billing > Refund", "sentiment": "positive"}]}]',
        )
    result: dict[str, list[dict[str, Any]]] = {"assigned": [], "dismissed": []}
    for i, item in enumerate(raw):
        where = f"labelling[{i}]"
        group = need_object(item, where)
        check_keys(group, ("group", "assigned", "dismissed", "uninformative"), where)
        if group.get("group", "default") != "default":
            raise invalid(f"{where}.group", "must be 'default' (the only label group)")
        for key in ("assigned", "dismissed"):
            labels = group.get(key, [])
            if not isinstance(labels, list):
                raise invalid(f"{where}.{key}", "must be a list of labels")
            for j, label in enumerate(labels):
                result[key].append(_label(label, f"{where}.{key}[{j}]", label_names))
    return result


def _label(raw: Any, where: str, label_names: set[str]) -> dict[str, Any]:
    label = need_object(raw, where)
    check_keys(label, ("name", "sentiment", "metadata"), where)
    name = label.get("name")
    if isinstance(name, list) and all(isinstance(part, str) for part in name):
        name = " > ".join(name)
    if not isinstance(name, str) or name not in label_names:
        raise invalid(
            f"{where}.name", f"{name!r} is not a label of this dataset (see its label_defs)"
        )
    sentiment = label.get("sentiment", "positive")
    if sentiment not in ("positive", "negative"):
        raise invalid(f"{where}.sentiment", "must be 'positive' or 'negative'")
    return {"name": name, "sentiment": sentiment}


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
