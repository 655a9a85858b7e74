"""Handlers for the current user, users, projects, sources and datasets.

Each handler takes a :class:`.access.Call` plus path parameters and returns the answer's
keys besides ``status``. Permissions follow the OpenAPI spec's
``x-uipath-communicationsmining-project-permissions`` where it names one; the exceptions
are noted where they occur.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .access import Call
from ..data.sample import dataset_json, format_ts, hex_id, now_us
from .validate import Refusal, check_name, invalid

__all__ = [
    "create_dataset",
    "create_source",
    "current_user",
    "get_dataset",
    "get_dataset_by_id",
    "get_project",
    "get_source",
    "get_source_by_id",
    "get_user",
    "list_datasets",
    "list_project_datasets",
    "list_project_sources",
    "list_projects",
    "list_projects_v1",
    "list_sources",
    "list_users",
    "list_users_v1",
    "refresh_permissions",
    "update_dataset",
    "update_source",
]

Answer = dict[str, Any]
# Email transform tags (a source's email parsing logic) the sandbox knows: the real API
# knows more, but these are the ones documented as used by real clients.
TRANSFORM_TAGS = frozenset({"generic.0.CONVKER5"})

# -- the current user, users -------------------------------------------------------------


def current_user(call: Call) -> Answer:
    return {"user": call.user.meta}


def refresh_permissions(call: Call) -> Answer:
    call.body()
    return {"permissions_refreshed": True}


def list_users_v1(call: Call) -> Answer:
    return {
        "users": [
            {"email": u["email"], "username": u["username"], "last_login_at": u["last_login_at"]}
            for u in call.store.users.values()
        ]
    }


def list_users(call: Call) -> Answer:
    return {"users": list(call.store.users.values())}


def get_user(call: Call, user_id: str) -> Answer:
    for user in call.store.users.values():
        if user["id"] == user_id:
            return {"user": user}
    raise Refusal(404, f"User '{user_id}' not found. List users with GET /api/_private/users.")


# -- projects ----------------------------------------------------------------------------


def _visible_projects(call: Call) -> list[dict[str, Any]]:
    return [p for name, p in call.store.projects.items() if call.user.permissions(name)]


def list_projects_v1(call: Call) -> Answer:
    return {
        "projects": [
            {"name": p["name"], "title": p["title"], "description": p["description"]}
            for p in _visible_projects(call)
        ]
    }


def list_projects(call: Call) -> Answer:
    return {"projects": _visible_projects(call)}


def get_project(call: Call, name: str) -> Answer:
    project = name
    call.require(project)
    if not call.user.permissions(project):
        raise Refusal(
            403,
            f"Forbidden: user '{call.user.name}' has no permissions in project "
            f"'{project}'. See your permissions with GET /auth/user.",
        )
    return {"project": call.store.projects[project]}


# -- listings shared by sources and datasets ----------------------------------------------


def _readable(
    call: Call, table: Mapping[str, Any], permission: str, owner: str | None = None
) -> list[dict[str, Any]]:
    """The resources of ``table`` the caller may read: of one project, or of every project."""
    if owner is not None:
        call.require(owner, permission)
    def wanted(project: str) -> bool:
        return project == owner if owner is not None else call.can(project, permission)

    with call.store.lock:
        return [r.meta for r in table.values() if wanted(r.meta["owner"])]


def _by_id(
    call: Call, table: Mapping[str, Any], ident: str, permission: str, noun: str
) -> dict[str, Any]:
    """The resource with id ``ident`` (a 404 names the listing to look in)."""
    found = table.get(ident)
    if found is None:
        raise Refusal(
            404,
            f"{noun.capitalize()} with id '{ident}' not found. "
            f"List {noun}s with GET /api/v1/{noun}s.",
        )
    call.require(found.meta["owner"], permission)
    return found.meta  # type: ignore[no-any-return]


# -- sources -----------------------------------------------------------------------------


def list_sources(call: Call) -> Answer:
    return {"sources": _readable(call, call.store.sources, "sources-read")}


def list_project_sources(call: Call, owner: str) -> Answer:
    return {"sources": _readable(call, call.store.sources, "sources-read", owner)}


def get_source(call: Call, owner: str, source_name: str) -> Answer:
    return {"source": call.source(owner, source_name, "sources-read").meta}


def get_source_by_id(call: Call, source_id: str) -> Answer:
    return {"source": _by_id(call, call.store.sources, source_id, "sources-read", "source")}


def create_source(call: Call, owner: str, source_name: str) -> Answer:
    source = source_name
    call.require(owner, "sources-admin")
    check_name(source, "source")
    fields = _source_fields(call.body())
    with call.store.lock:
        if call.store.source(owner, source) is not None:
            raise Refusal(
                409,
                f"Source '{owner}/{source}' already exists; update it with "
                f"POST /api/v1/sources/{owner}/{source}.",
            )
        return {"source": call.store.add_source(owner, source, fields).meta}


def update_source(call: Call, owner: str, source_name: str) -> Answer:
    found = call.source(owner, source_name, "sources-admin")
    fields = _source_fields(call.body())
    stamp = format_ts(now_us())
    with call.store.lock:
        found.meta.update(fields, updated_at=stamp, last_modified=stamp)
        if found.meta.get("bucket_id", "") is None:  # null detaches the bucket
            del found.meta["bucket_id"]
        return {"source": found.meta}


def _source_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The ``source`` of a request (the spec's schema already checked)."""
    raw: dict[str, Any] = body["source"]
    tag = raw.get("email_transform_tag")
    if tag is not None and tag not in TRANSFORM_TAGS:
        raise Refusal(422, f"The value '{tag}' is not a valid transform tag.")
    return dict(raw)


# -- datasets ----------------------------------------------------------------------------


def list_datasets(call: Call) -> Answer:
    return {"datasets": _readable(call, call.store.datasets, "voc-readonly")}


def list_project_datasets(call: Call, owner: str) -> Answer:
    return {"datasets": _readable(call, call.store.datasets, "voc-readonly", owner)}


def get_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    return {"dataset": call.dataset(owner, dataset_name, "voc-readonly").meta}


def get_dataset_by_id(call: Call, dataset_id: str) -> Answer:
    return {"dataset": _by_id(call, call.store.datasets, dataset_id, "voc-readonly", "dataset")}


def create_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    dataset = dataset_name
    call.require(owner, "voc")  # as the spec says for createDataset
    check_name(dataset, "dataset")
    raw = _dataset_object(call.body(), creating=True)
    source_ids = _source_ids(call, raw)
    labels = _label_defs(raw)
    entities = [
        {
            "id": hex_id(owner, dataset, "entity", e["name"]),
            "name": e["name"],
            "title": e.get("title", e["name"]),
            "color": e.get("color", 0),
            "inherits_from": [],
            "trainable": e.get("trainable", True),
            "_entity_def_flags": [],
        }
        for e in raw.get("entity_defs", [])
    ]
    with call.store.lock:
        if call.store.dataset(owner, dataset) is not None:
            raise Refusal(
                409,
                f"Dataset '{owner}/{dataset}' already exists; update it with "
                f"POST /api/v1/datasets/{owner}/{dataset}.",
            )
        meta = dataset_json(
            call.store.seed,
            owner,
            dataset,
            raw.get("title", ""),
            raw.get("description", ""),
            source_ids,
            now_us(),
            labels if labels is not None else [],
            entities,
        )
        meta["has_sentiment"] = raw.get("has_sentiment", False)
        meta["model_family"] = raw.get("model_family", "english")
        return {"dataset": call.store.add_dataset(meta).meta}


def update_dataset(call: Call, owner: str, dataset_name: str) -> Answer:
    # The spec lists only voc-readonly for updateDataset; a write needs datasets-admin here.
    found = call.dataset(owner, dataset_name, "datasets-admin")
    raw = _dataset_object(call.body(), creating=False)
    source_ids = _source_ids(call, raw) if "source_ids" in raw else None
    with call.store.lock:
        for key in ("title", "description"):
            if key in raw:
                found.meta[key] = raw[key]
        if source_ids is not None:
            found.meta["source_ids"] = source_ids
        found.meta["last_modified"] = format_ts(now_us())
        return {"dataset": found.meta}


def _dataset_object(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The ``dataset`` of a request (the spec's schema already checked)."""
    raw: dict[str, Any] = body["dataset"]
    allowed: tuple[str, ...] = ("title", "description", "source_ids")
    if creating:
        allowed += ("has_sentiment", "model_family", "label_defs", "label_groups", "entity_defs")
    unsupported = sorted(set(raw) - set(allowed))
    if unsupported:
        raise Refusal(
            422,
            f"Invalid request: dataset.{unsupported[0]} is not supported by the "
            f"sandbox here; send only {', '.join(allowed)}.",
        )
    return raw


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


def _label_defs(raw: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "label_defs" in raw and "label_groups" in raw:
        raise invalid("dataset", "may have label_defs or label_groups, not both")
    defs = raw.get("label_defs")
    if "label_groups" in raw:
        groups = raw["label_groups"]
        if len(groups) != 1 or groups[0]["name"] != "default":
            raise invalid("dataset.label_groups", "must hold one group named 'default'")
        defs = groups[0].get("label_defs", [])
    if defs is None:
        return None
    return [
        {
            "name": label["name"],
            "title": label.get("title", label["name"].split(" > ")[-1]),
            "instructions": label.get("instructions", ""),
            "trainable": label.get("trainable", True),
        }
        for label in defs
    ]
