"""Handlers for the current user, users and projects, and the listing and by-id lookups
that sources, datasets and buckets share.

Each handler takes a :class:`.access.Call` plus path parameters and returns the answer's
keys besides ``status``. Permissions follow the OpenAPI spec's
``x-uipath-communicationsmining-project-permissions`` where it names one; the exceptions
are noted where they occur. Whoever creates a project holds every project permission in
it (the spec's ``ProjectPermission`` values), as a project admin on a tenant would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...spec import openapi
from ..data.sample import format_ts, hex_id, now_us
from .access import Answer, Call
from .validate import Refusal, check_name

__all__ = [
    "by_id",
    "create_project",
    "current_user",
    "delete_project",
    "get_project",
    "get_user",
    "list_projects",
    "list_projects_v1",
    "list_users",
    "list_users_v1",
    "project_resource_counts",
    "readable",
    "refresh_permissions",
    "update_project",
]

ADMIN = "role-cm-project-admin"  # may change or delete a project (as may tenant admins)

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
    _member(call, name)
    return {"project": call.store.projects[name]}


def project_resource_counts(call: Call, name: str) -> Answer:
    _member(call, name)
    with call.store.lock:
        return call.store.resource_counts(name)


def create_project(call: Call, name: str) -> Answer:
    check_name(name, "project")
    body = call.body()
    users = {u["id"]: u for u in call.store.users.values()}
    for user_id in body.get("user_ids", []):
        if user_id not in users:
            raise Refusal(
                422,
                f"Invalid request: user_ids names {user_id!r}, which is not a user; see "
                "GET /api/_private/users.",
            )
    if body.get("uipath_user_ids"):
        raise Refusal(
            422, "Invalid request: the sandbox has no UiPath users; name users by user_ids."
        )
    members = {call.user.meta["id"]: call.user.meta}
    members.update((i, users[i]) for i in body.get("user_ids", []))
    with call.store.lock:
        if name in call.store.projects:
            raise Refusal(
                409, f"Project '{name}' already exists; update it with "
                f"POST /api/_private/projects/{name}."
            )
        stamp = format_ts(now_us())
        fields = body["project"]
        project = {
            "id": hex_id(call.store.seed, "project", name),
            "name": name,
            "title": fields.get("title", ""),
            "description": fields.get("description", ""),
            "created_at": stamp,
            "updated_at": stamp,
            "user_auto_join": fields.get("user_auto_join", False),
        }
        call.store.projects[name] = project
        everything = openapi()["components"]["schemas"]["ProjectPermission"]["enum"]
        for user in members.values():
            for key in ("organisation_permissions", "derived_organisation_permissions"):
                if key in user:
                    user[key][name] = list(everything)
        call.store.touch()
        return {"project": project}


def update_project(call: Call, name: str) -> Answer:
    _admin(call, name)
    fields = call.body()["project"]
    with call.store.lock:
        project = call.store.projects[name]
        project.update(fields)
        project["updated_at"] = format_ts(now_us())
        call.store.touch()
        return {"project": project}


def delete_project(call: Call, name: str) -> Answer:
    """Only an empty project, unless ``force=true`` (then everything in it goes too)."""
    _admin(call, name)
    force = (call.param("force") or "").lower() == "true"
    with call.store.lock:
        counts = call.store.resource_counts(name)
        held = {k: v for k, v in counts.items() if v and k != "users_with_permissions"}
        if held and not force:
            what = ", ".join(f"{n} {kind}" for kind, n in held.items())
            raise Refusal(
                409,
                f"Project '{name}' still holds {what}; delete them first, or delete the "
                f"project with everything in it: DELETE /api/_private/projects/{name}?force=true.",
            )
        call.store.delete_project(name)
    return {}


def _member(call: Call, name: str) -> None:
    call.require(name)
    if not call.user.permissions(name):
        raise Refusal(
            403,
            f"Forbidden: user '{call.user.name}' has no permissions in project "
            f"'{name}'. See your permissions with GET /auth/user.",
        )


def _admin(call: Call, name: str) -> None:
    call.require(name)
    if not {"tenant-admin", "projects-admin"} & set(call.user.meta["global_permissions"]):
        call.require(name, ADMIN)


# -- listings shared by sources, datasets and buckets -----------------------------------------


def readable(
    call: Call, table: Mapping[str, Any], permission: str, owner: str | None = None
) -> list[dict[str, Any]]:
    """The resources of ``table`` the caller may read: of one project, or of every project."""
    if owner is not None:
        call.require(owner, permission)

    def wanted(project: str) -> bool:
        return project == owner if owner is not None else call.can(project, permission)

    with call.store.lock:
        return [r.meta for r in table.values() if wanted(r.meta["owner"])]


def by_id(call: Call, table: Mapping[str, Any], ident: str, permission: str, noun: str) -> Any:
    """The resource with id ``ident`` (a 404 names the listing to look in)."""
    found = table.get(ident)
    if found is None:
        where = "/api/_private/buckets" if noun == "bucket" else f"/api/v1/{noun}s"
        raise Refusal(
            404, f"{noun.capitalize()} with id '{ident}' not found. List {noun}s with GET {where}."
        )
    call.require(found.meta["owner"], permission)
    return found
