"""Request validation: :class:`Refusal` (an error answer) and checks that say what is wrong
and what to send. Whole requests are validated before anything is written.

Status codes: 400 for a request that cannot be read (malformed JSON, a bad query
parameter or continuation token), 422 for a readable body with wrong types or values.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..data.sample import now_us, parse_ts

__all__ = [
    "Refusal",
    "check_keys",
    "check_name",
    "get_bool",
    "get_int",
    "get_str",
    "get_str_list",
    "get_timestamp",
    "invalid",
    "need_object",
    "new_comments",
]

MAX_BATCH = 4096
NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
HEX = re.compile(r"[0-9a-f]+")
COMMENT_ID = re.compile(r"[\w\x21-\x2e\x3a-\x40\x5b-\x60\x7b-\x7e]{1,1024}")
PROPERTY = re.compile(r"(string|number):\w.{0,63}", re.DOTALL)
EXAMPLE_COMMENT = (
    '{"comments": [{"id": "c1", "timestamp": "2024-05-01T09:00:00Z", '
    '"messages": [{"body": {"text": "Hello"}}]}]}'
)


class Refusal(Exception):
    """An error answer: the HTTP status and a one-line message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def invalid(where: str, what: str) -> Refusal:
    return Refusal(422, f"Invalid request: {where} {what}.")


def _at(where: str, key: str) -> str:
    """How to name ``key`` of the object at ``where`` ("" is the body itself)."""
    return f"{where}.{key}" if where else key


def need_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(where, f"must be a JSON object, not {_kind(value)}")
    return value


def check_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise invalid(where, f"has unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}")


def get_str(
    obj: dict[str, Any],
    key: str,
    where: str,
    *,
    required: bool = False,
    max_len: int | None = None,
    min_len: int = 0,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise invalid(_at(where, key), "is required (a string)")
        return None
    if not isinstance(value, str):
        raise invalid(_at(where, key), f"must be a string, not {_kind(value)}")
    if max_len is not None and len(value) > max_len:
        raise invalid(_at(where, key), f"must be at most {max_len} characters")
    if len(value) < min_len:
        raise invalid(_at(where, key), "must not be empty")
    return value


def get_bool(obj: dict[str, Any], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise invalid(_at(where, key), f"must be true or false, not {_kind(value)}")
    return value


def get_int(
    obj: dict[str, Any], key: str, where: str, lo: int, hi: int, *, required: bool = False
) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise invalid(_at(where, key), f"is required (an integer from {lo} to {hi})")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise invalid(_at(where, key), f"must be an integer from {lo} to {hi}, not {value!r}")
    return value


def get_str_list(obj: dict[str, Any], key: str, where: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(_at(where, key), "must be a list of strings")
    return value


def get_timestamp(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = get_str(obj, key, where)
    if value is None:
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise invalid(_at(where, key), f"is not valid: {exc}") from None


def check_name(name: str, kind: str) -> None:
    """Resource names: letters, digits, ``_`` and ``-``, and never all hex (that reads as an id)."""
    if not NAME.fullmatch(name):
        raise invalid(
            f"the {kind} name {name!r}",
            "may only contain letters, digits, '_' and '-' (1 to 256 characters)",
        )
    if HEX.fullmatch(name):
        raise invalid(
            f"the {kind} name {name!r}",
            "must not be all hex digits (clients read such names as ids)",
        )


def new_comments(body: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """The ``comments`` of a sync/add request as (normalised JSON, timestamp in µs)."""
    check_keys(body, ("comments",), "the body")
    comments = body.get("comments")
    if not isinstance(comments, list) or not comments:
        raise invalid("'comments'", f"must be a non-empty list of comments, e.g. {EXAMPLE_COMMENT}")
    if len(comments) > MAX_BATCH:
        raise invalid(
            "'comments'", f"has {len(comments)} items; send at most {MAX_BATCH} per request"
        )
    out = []
    seen: set[str] = set()
    now = now_us()
    for i, raw in enumerate(comments):
        where = f"comments[{i}]"
        comment = _new_comment(need_object(raw, where), where)
        if comment["id"] in seen:
            raise invalid(f"{where}.id", f"repeats the id {comment['id']!r} of an earlier comment")
        seen.add(comment["id"])
        us = get_timestamp(raw, "timestamp", where)
        out.append((comment, now if us is None else us))
    return out


def _new_comment(raw: dict[str, Any], where: str) -> dict[str, Any]:
    check_keys(
        raw,
        (
            "id",
            "timestamp",
            "thread_id",
            "messages",
            "user_properties",
            "attachments",
            "text_format",
        ),
        where,
    )
    comment_id = get_str(raw, "id", where, required=True)
    assert comment_id is not None
    if not COMMENT_ID.fullmatch(comment_id):
        raise invalid(f"{where}.id", "may not contain spaces or '/' (1 to 1024 characters)")
    comment: dict[str, Any] = {"id": comment_id}
    thread_id = get_str(raw, "thread_id", where)
    if thread_id is not None:
        comment["thread_id"] = thread_id
    messages = raw.get("messages", [])
    if not isinstance(messages, list):
        raise invalid(
            f"{where}.messages", 'must be a list of messages, e.g. [{"body": {"text": "Hello"}}]'
        )
    comment["messages"] = [
        _message(need_object(m, f"{where}.messages[{j}]"), f"{where}.messages[{j}]")
        for j, m in enumerate(messages)
    ]
    comment["user_properties"] = _user_properties(
        raw.get("user_properties", {}), f"{where}.user_properties"
    )
    attachments = raw.get("attachments", [])
    if not isinstance(attachments, list):
        raise invalid(f"{where}.attachments", "must be a list")
    comment["attachments"] = [
        _attachment(need_object(a, f"{where}.attachments[{j}]"), f"{where}.attachments[{j}]")
        for j, a in enumerate(attachments)
    ]
    text_format = raw.get("text_format")
    if text_format is not None:
        if text_format not in ("plain", "markdown"):
            raise invalid(f"{where}.text_format", "must be 'plain' or 'markdown'")
        comment["text_format"] = text_format
    return comment


def _message(raw: dict[str, Any], where: str) -> dict[str, Any]:
    check_keys(
        raw,
        ("from", "to", "cc", "bcc", "sent_at", "language", "subject", "body", "signature"),
        where,
    )
    if "body" not in raw:
        raise invalid(f"{where}.body", 'is required, e.g. {"text": "Hello"}')
    for key in ("body", "signature", "subject"):
        if key in raw:
            part = need_object(raw[key], _at(where, key))
            check_keys(
                part,
                ("text", "translated_from")
                if key == "subject"
                else ("text", "translated_from", "text_markup", "translated_from_markup"),
                _at(where, key),
            )
            get_str(part, "text", _at(where, key), required=True, max_len=65536)
            get_str(part, "translated_from", _at(where, key), max_len=65536)
    get_str(raw, "from", where, min_len=1)
    get_str(raw, "language", where, min_len=1)
    if get_str(raw, "sent_at", where) is not None:
        get_timestamp(raw, "sent_at", where)
    for key in ("to", "cc", "bcc"):
        get_str_list(raw, key, where)
    return dict(raw)


def _user_properties(raw: Any, where: str) -> dict[str, Any]:
    properties = need_object(raw, where)
    for key, value in properties.items():
        if not PROPERTY.fullmatch(key):
            raise invalid(
                f"{where} key {key!r}",
                "must start with 'string:' or 'number:' followed by a name of up to "
                "64 characters, e.g. 'string:Channel' or 'number:NPS'",
            )
        if key.startswith("string:") and not isinstance(value, str):
            raise invalid(f"{where}[{key!r}]", f"must be a string, not {_kind(value)}")
        if key.startswith("number:") and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise invalid(f"{where}[{key!r}]", f"must be a finite number, not {_kind(value)}")
    return dict(properties)


def _attachment(raw: dict[str, Any], where: str) -> dict[str, Any]:
    check_keys(
        raw,
        ("name", "size", "content_type", "content_hash", "inline", "attachment_reference"),
        where,
    )
    get_str(raw, "name", where, required=True, max_len=256)
    get_str(raw, "content_type", where, required=True, max_len=256)
    get_int(raw, "size", where, 0, 2**53, required=True)
    get_bool(raw, "inline", where)
    return dict(raw)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
