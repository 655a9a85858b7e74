"""Find the list of records in an API answer (pure; no pandas)."""

from __future__ import annotations

from typing import Any

__all__ = ["find_records"]

# Keys that hold the records of a listing, most specific first.
RECORD_KEYS = (
    "comments",
    "results",
    "sources",
    "datasets",
    "projects",
    "users",
    "streams",
    "triggers",
    "buckets",
    "emails",
    "audit_events",
    "labellers",
    "predictions",
    "integrations",
    "quotas",
)


def find_records(data: Any) -> tuple[str | None, list[Any]]:
    """The key and list of records of an answer.

    A listing (``{"status": "ok", "datasets": [...]}``) gives its list; a single object
    (``{"status": "ok", "source": {...}}``) gives a one-item list; anything else gives the
    answer itself, without ``status``, as one record.
    """
    if isinstance(data, list):
        return None, data
    if not isinstance(data, dict):
        return None, [{"value": data}]
    for key in RECORD_KEYS:
        if isinstance(data.get(key), list):
            return key, data[key]
    fields = {k: v for k, v in data.items() if k != "status"}
    lists = [k for k, v in fields.items() if isinstance(v, list)]
    if len(lists) == 1:
        return lists[0], fields[lists[0]]
    if len(fields) == 1:
        (key, value), = fields.items()
        if isinstance(value, dict):
            return key, [value]
    return None, [fields or {"status": data.get("status")}]
