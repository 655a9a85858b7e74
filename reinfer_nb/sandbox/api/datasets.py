"""Handlers for datasets: list, get, create (every field of the spec's ``DatasetNew``),
update, delete (by name or ``id:<hex>``, with its annotations and streams).

A create or update request is stored as the API returns it: new label defs, entity defs
and general fields get their ids, ``moon_form`` fields and ``pretrained`` labels their
full shape, and ``copy_annotations_from`` copies the annotations (and labels) of another
dataset for the sources both hold.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ...spec import openapi
from ..data.sample import dataset_json, format_ts, hex_id, now_us
from ..data.store import DatasetState
from .access import Answer, Call
from .resources import by_id, readable
from .validate import Refusal, check_name, invalid

__all__ = [
    "create_dataset",
    "delete_dataset",
    "delete_dataset_by_id",
    "get_dataset",
    "list_datasets",
    "list_project_datasets",
    "update_dataset",
]

# DatasetNew fields stored as sent (the others are normalised below or not part of a Dataset).
_AS_SENT = ("_label_properties", "debug_config_json", "_timezone", "_dataset_flags",
            "_model_config", "has_sentiment", "model_family")
_GROUP_FIELDS = ("trainable", "hidden", "instructions", "label_collection_name")
_BUILTIN = "BuiltinLabelDefName"
HEX16 = re.compile(r"[0-9a-f]{16}")


def list_datasets(call: Call) -> Answer:
    return {"datasets": readable(call, call.store.datasets, "voc-readonly")}


def list_project_datasets(call: Call, owner: str) -> Answer:
    return {"datasets": readable(call, call.store.datasets, "voc-readonly", owner)}


def get_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    return {"dataset": call.dataset(owner, dataset_name, "voc-readonly").meta}


def create_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    call.require(owner, "voc")  # as the spec says for createDataset
    check_name(dataset_name, "dataset")
    raw: dict[str, Any] = call.body()["dataset"]
    source_ids = _source_ids(call, raw)
    copy_from = _copy_from(call, raw)
    dataset_id = hex_id(call.store.seed, "dataset", owner, dataset_name)
    with call.store.lock:
        if call.store.dataset(owner, dataset_name) is not None:
            raise Refusal(
                409,
                f"Dataset '{owner}/{dataset_name}' already exists; update it with "
                f"POST /api/v1/datasets/{owner}/{dataset_name}.",
            )
        labels = _label_defs(raw, dataset_id)
        if copy_from is not None:  # copied annotations bring their labels
            names = {d["name"] for d in labels}
            labels += [d for d in copy_from.meta["label_defs"] if d["name"] not in names]
        meta = dataset_json(
            call.store.seed,
            owner,
            dataset_name,
            raw.get("title", ""),
            raw.get("description", ""),
            source_ids,
            now_us(),
            labels,
            _entity_defs(raw, dataset_id, []),
        )
        meta.update({key: raw[key] for key in _AS_SENT if key in raw})
        meta["general_fields"] = _general_fields(raw.get("general_fields", []), dataset_id)
        if "_preferred_locales" in raw:
            meta["_preferred_locales"] = raw["_preferred_locales"]
        sent: dict[str, Any] = next(iter(raw.get("label_groups", [])), {})
        for group in meta["label_groups"]:
            group.update({k: sent[k] for k in _GROUP_FIELDS if k in sent})
        return {"dataset": call.store.add_dataset(meta, copy_from).meta}


def update_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    # The spec lists only voc-readonly for updateDataset; a write needs datasets-admin here.
    found = call.dataset(owner, dataset_name, "datasets-admin")
    raw: dict[str, Any] = call.body()["dataset"]
    source_ids = _source_ids(call, raw) if "source_ids" in raw else None
    with call.store.lock:
        meta = found.meta
        for key in ("title", "description", *_AS_SENT, "_preferred_locales"):
            if key in raw:
                meta[key] = raw[key]
        if meta.get("debug_config_json", "") is None:  # null removes it
            del meta["debug_config_json"]
        if source_ids is not None:
            meta["source_ids"] = source_ids
        if "entity_defs" in raw or "entity_kinds" in raw:
            meta["entity_defs"] = _entity_defs(raw, meta["id"], meta["entity_defs"])
        if "general_fields" in raw:
            meta["general_fields"] = _general_fields(raw["general_fields"], meta["id"])
        if "_default_label_group_instructions" in raw:
            for group in meta["label_groups"]:
                if group["name"] == "default":
                    group["instructions"] = raw["_default_label_group_instructions"]
        meta["last_modified"] = format_ts(now_us())
        call.store.touch()
        return {"dataset": meta}


def delete_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    found = call.dataset(owner, dataset_name, "datasets-admin")
    with call.store.lock:
        call.store.delete_dataset(found)
    return {}


def delete_dataset_by_id(call: Call, dataset_id: str) -> Answer:
    found: DatasetState = by_id(call, call.store.datasets, dataset_id, "datasets-admin", "dataset")
    with call.store.lock:
        call.store.delete_dataset(found)
    return {}


# -- a request's fields as the API stores them -----------------------------------------------


def _source_ids(call: Call, raw: dict[str, Any]) -> list[str]:
    ids: list[str] = raw.get("source_ids", [])
    for source_id in ids:
        found = call.store.sources.get(source_id)
        if found is None:
            raise invalid(
                "dataset.source_ids",
                f"names {source_id!r}, which is not a source id (see GET /api/v1/sources)",
            )
        call.require(found.meta["owner"], "sources-read")
    return list(dict.fromkeys(ids))


def _copy_from(call: Call, raw: dict[str, Any]) -> DatasetState | None:
    dataset_id = raw.get("copy_annotations_from")
    if dataset_id is None:
        return None
    found = call.store.datasets.get(dataset_id)
    if found is None:
        raise invalid(
            "dataset.copy_annotations_from",
            f"names {dataset_id!r}, which is not a dataset id (see GET /api/v1/datasets)",
        )
    call.require(found.meta["owner"], "voc-readonly")
    return found


def _label_defs(raw: dict[str, Any], dataset_id: str) -> list[dict[str, Any]]:
    if "label_defs" in raw and "label_groups" in raw:
        raise invalid("dataset", "may have label_defs or label_groups, not both")
    defs = raw.get("label_defs", [])
    if "label_groups" in raw:
        names = [g["name"] for g in raw["label_groups"]]
        if names != ["default"]:
            raise invalid(
                "dataset.label_groups",
                f"names groups {names}; the sandbox has one label group, named 'default'",
            )
        defs = raw["label_groups"][0].get("label_defs", [])
    return [_label_def(d, dataset_id, f"dataset.label_defs[{i}]") for i, d in enumerate(defs)]


def _label_def(label: dict[str, Any], dataset_id: str, where: str) -> dict[str, Any]:
    name = label["name"]
    out: dict[str, Any] = {
        "name": name,
        "title": label.get("title", name.split(" > ")[-1]),
        "instructions": label.get("instructions", ""),
        "trainable": True if label.get("trainable") is None else label["trainable"],
    }
    if "external_id" in label:
        out["external_id"] = label["external_id"]
    if "pretrained" in label:
        out["pretrained"] = _pretrained(label["pretrained"], f"{where}.pretrained")
    if "moon_form" in label:
        out["moon_form"] = [
            _moon_field(field, dataset_id, name) for field in label["moon_form"]
        ]
    return out


def _pretrained(raw: dict[str, Any], where: str) -> dict[str, Any]:
    names = openapi()["components"]["schemas"][_BUILTIN]["enum"]
    name = raw.get("name", raw["id"])
    if name not in names:
        raise invalid(f"{where}.name", f"must name a built-in label, e.g. {names[0]!r}")
    return {"id": raw["id"][:64], "name": name}


def _moon_field(field: dict[str, Any], dataset_id: str, label: str) -> dict[str, Any]:
    field_id = field.get("id") or hex_id(dataset_id, "moon", label, field["name"])
    out = {
        "field_id": field_id,
        "id": field_id,
        "field_type_id": field.get("field_type_id") or hex_id("field-type", field.get("kind", "")),
        "name": field["name"],
    }
    out.update({k: field[k] for k in ("kind", "instructions") if k in field})
    return out


def _entity_defs(
    raw: dict[str, Any], dataset_id: str, current: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``current`` with the request's entity defs (by id or name) and entity kinds added."""
    defs = {d["name"]: d for d in current}
    for entity in raw.get("entity_defs", []):
        old = next((d for d in current if d["id"] == entity.get("id")), defs.get(entity["name"]))
        entity_id = old["id"] if old else (
            entity["id"] if len(entity.get("id", "")) == 16 else
            hex_id(dataset_id, "entity", entity["name"])
        )
        new = {
            "id": entity_id,
            "name": entity["name"],
            "title": entity["title"],
            "color": entity.get("color", old["color"] if old else 0),
            "inherits_from": [  # entity kinds become ids, as the API returns them
                i if HEX16.fullmatch(i) else hex_id("kind", i) for i in entity["inherits_from"]
            ],
            "trainable": entity["trainable"],
            "_entity_def_flags": entity.get("_entity_def_flags", []),
        }
        if "instructions" in entity:
            new["instructions"] = entity["instructions"]
        if "rules" in entity:
            new["rules"] = _rules(entity["rules"])
        if old is not None:
            defs.pop(old["name"], None)
        defs[entity["name"]] = new
    for kind in raw.get("entity_kinds", []):
        defs.setdefault(
            kind,
            {
                "id": hex_id(dataset_id, "entity", kind),
                "name": kind,
                "title": kind,
                "color": 0,
                "inherits_from": [],
                "trainable": True,
                "_entity_def_flags": [],
            },
        )
    return list(defs.values())


def _rules(raw: dict[str, Any]) -> dict[str, Any]:
    rules = dict(raw)
    if "choices" in rules:  # choice ids are UUIDs in what the API returns
        rules["choices"] = [
            dict(c, id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{c['name']}/{c.get('id', '')}")))
            for c in rules["choices"]
        ]
    return rules


def _general_fields(fields: list[dict[str, Any]], dataset_id: str) -> list[dict[str, Any]]:
    out = []
    for field in fields:
        type_name = field.get("field_type_name", "text")
        item = {
            "field_id": field.get("field_id") or hex_id(dataset_id, "field", field["api_name"]),
            "field_type_id": field.get("field_type_id") or hex_id("field-type", type_name),
            "api_name": field["api_name"],
            "title": field.get("title") or field["api_name"],
        }
        if "field_type_name" in field:
            item["field_type_name"] = field["field_type_name"]
        out.append(item)
    return out
