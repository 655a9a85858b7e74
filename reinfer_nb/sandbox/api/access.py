"""Who is calling and what they may do: the :class:`Call` handlers receive, permission
checks per project, and lookups that answer 403/404 with a message saying what to do.

A user without a given permission in a project gets 403 naming the permission and the
project; a project where they have no permission at all is left out of lists.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qs

from ..data.paging import decode_token
from ..data.store import DatasetState, Key, SourceState, Store, StreamState
from .validate import Refusal, parse_json

__all__ = ["Answer", "Blob", "Call", "User"]

# What a handler returns: the answer's keys besides "status".
Answer = dict[str, Any]

_UNREAD = object()


class User:
    """A sandbox user: the ``User`` JSON and permissions by project."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.name = str(meta["username"])

    def permissions(self, project: str) -> frozenset[str]:
        return frozenset(self.meta["organisation_permissions"].get(project, ()))


class Blob(NamedTuple):
    """A handler's answer that is not JSON: a download (audio, an attachment)."""

    content_type: str
    data: bytes


class Call:
    """One authenticated request as handlers see it."""

    def __init__(
        self,
        store: Store,
        user: User,
        method: str,
        path: str,
        query: str,
        body: bytes,
        content_type: str = "application/json",
    ) -> None:
        self.store = store
        self.user = user
        self.method = method
        self.path = path
        self.query = parse_qs(query, keep_blank_values=True)
        self.content_type = content_type
        self._raw = body
        self._body: Any = _UNREAD

    @property
    def raw(self) -> bytes:
        """The request body as sent."""
        return self._raw

    # -- input -------------------------------------------------------------------------
    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def params(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_param(self, name: str, lo: int, hi: int, default: int) -> int:
        text = self.param(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise Refusal(
                400,
                f"Invalid query parameter: '{name}' must be an integer from {lo} "
                f"to {hi}, got {text!r}.",
            )
        return value

    def token_param(self, name: str, value: str | None = None) -> Key | None:
        """A continuation token from the query (or ``value``), decoded."""
        text = self.param(name) if value is None else value
        if text is None:
            return None
        try:
            return decode_token(text)
        except ValueError:
            raise Refusal(
                400,
                f"Invalid '{name}': {text!r} is not a token from this server; "
                "pass back the 'continuation' of the previous page unchanged.",
            ) from None

    def json(self) -> Any:
        """The JSON body (an empty body is ``{}``), parsed once; 400 if it is not JSON."""
        if self._body is _UNREAD:
            self._body = parse_json(self._raw)
        return self._body

    def body(self) -> dict[str, Any]:
        """The JSON body as an object (checked against the spec for spec operations)."""
        value = self.json()
        if not isinstance(value, dict):
            raise Refusal(
                400, 'Invalid request: the body must be a JSON object, e.g. {"key": ...}.'
            )
        return value

    # -- permissions and lookups ----------------------------------------------------------
    def can(self, project: str, permission: str) -> bool:
        return permission in self.user.permissions(project)

    def require(self, project: str, *permissions: str) -> None:
        """404 for an unknown project; 403 naming the first permission the user lacks."""
        if project not in self.store.projects:
            raise Refusal(
                404, f"Project '{project}' not found. List your projects with GET /api/v1/projects."
            )
        have = self.user.permissions(project)
        for permission in permissions:
            if permission not in have:
                raise Refusal(
                    403,
                    f"Forbidden: user '{self.user.name}' lacks permission "
                    f"'{permission}' in project '{project}'. See your permissions "
                    "with GET /auth/user.",
                )

    def source(self, owner: str, name: str, *permissions: str) -> SourceState:
        self.require(owner, *permissions)
        source = self.store.source(owner, name)
        if source is None:
            raise Refusal(
                404,
                f"Source '{owner}/{name}' not found. List the sources with "
                f"GET /api/v1/sources/{owner}.",
            )
        return source

    def dataset(self, owner: str, name: str, *permissions: str) -> DatasetState:
        self.require(owner, *permissions)
        dataset = self.store.dataset(owner, name)
        if dataset is None:
            raise Refusal(
                404,
                f"Dataset '{owner}/{name}' not found. List the datasets with "
                f"GET /api/v1/datasets/{owner}.",
            )
        return dataset

    def stream(
        self, owner: str, dataset_name: str, name: str, *permissions: str
    ) -> tuple[DatasetState, StreamState]:
        dataset = self.dataset(owner, dataset_name, *permissions)
        stream = dataset.streams.get(name)
        if stream is None:
            raise Refusal(
                404,
                f"Stream '{name}' not found in dataset '{owner}/{dataset_name}'. "
                f"List the streams with GET /api/v1/datasets/{owner}/{dataset_name}/streams.",
            )
        return dataset, stream
