"""The sandbox's state: resources, the overlay of written comments, labellings and stream
cursors, seeded from :func:`.data.build_world`.

Generated comments are never stored. Writes go into a small overlay per source
(``upserts`` by id, ``hidden`` generated comments), which :mod:`.paging` merges in.
Callers hold :attr:`Store.lock` around every read or write of the overlay, so a page
or a batch sees one consistent state.
"""

from __future__ import annotations

import threading
from bisect import insort
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .sample import (
    CREATED_LAG_US,
    CommentGenerator,
    Facts,
    Span,
    World,
    build_world,
    format_ts,
    now_us,
    source_json,
)

__all__ = ["Counts", "Key", "Ref", "DatasetState", "SourceState", "Store", "Stored", "StreamState"]


Key = tuple[int, str]


class Stored(NamedTuple):
    """A written comment: its API JSON, timestamp and creation time (microseconds)."""

    comment: dict[str, Any]
    us: int
    created_us: int


@dataclass(eq=False)
class SourceState:
    """A source: its JSON, its generated comments and the overlay of writes."""

    meta: dict[str, Any]
    gen: CommentGenerator
    hidden: set[int] = field(default_factory=set)  # generated comments deleted or replaced
    upserts: dict[str, Stored] = field(default_factory=dict)
    by_ts: list[Key] = field(default_factory=list)  # sorted keys of ``upserts``
    by_created: list[Key] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def uid_prefix(self) -> str:
        return self.id + "."


class Ref(NamedTuple):
    """A comment in iteration order: key, source, and ``k`` (``-1`` for an overlay comment)."""

    us: int
    uid: str
    source: SourceState
    k: int

    @property
    def key(self) -> Key:
        return (self.us, self.uid)


@dataclass(eq=False)
class StreamState:
    """A stream and its cursor (the key of the last comment advanced past)."""

    meta: dict[str, Any]
    cursor: Key | None = None


@dataclass(eq=False)
class DatasetState:
    """A dataset; ``generated`` datasets annotate generated comments with sample labels."""

    meta: dict[str, Any]
    generated: bool
    labellings: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> annotations
    streams: dict[str, StreamState] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.meta['owner']}/{self.meta['name']}"


class Counts(NamedTuple):
    """What a sync did, as the API reports it."""

    new: int
    updated_text_changed: int
    updated_properties_only: int
    unchanged: int


# The fields besides messages and timestamp that tell an update from a no-op.
_CONTENT = ("thread_id", "user_properties", "attachments", "text_format")
_NO_COMMENTS: tuple[str, ...] = ()


class Store:
    """Everything the sandbox knows; see the module docstring for the locking rule."""

    def __init__(self, seed: int, comments: int) -> None:
        world: World = build_world(seed, comments)
        self.seed = seed
        self.lock = threading.RLock()
        self.users = {user["username"]: user for user in world.users}
        self.projects = {project["name"]: project for project in world.projects}
        self.sources: dict[str, SourceState] = {}
        self.datasets: dict[str, DatasetState] = {}
        for meta in world.sources:
            self.sources[meta["id"]] = SourceState(meta, world.generators[meta["id"]])
        for meta in world.datasets:
            self.datasets[meta["id"]] = DatasetState(meta, generated=True)
        for meta in world.streams:
            self.datasets[meta["dataset_id"]].streams[meta["name"]] = StreamState(meta)

    # -- lookups -----------------------------------------------------------------------
    def source(self, owner: str, name: str) -> SourceState | None:
        with self.lock:
            return next(
                (
                    s
                    for s in self.sources.values()
                    if s.meta["owner"] == owner and s.meta["name"] == name
                ),
                None,
            )

    def dataset(self, owner: str, name: str) -> DatasetState | None:
        with self.lock:
            return next(
                (
                    d
                    for d in self.datasets.values()
                    if d.meta["owner"] == owner and d.meta["name"] == name
                ),
                None,
            )

    def dataset_sources(self, dataset: DatasetState) -> list[SourceState]:
        return [self.sources[sid] for sid in dataset.meta["source_ids"] if sid in self.sources]

    # -- resources -----------------------------------------------------------------------
    def add_source(self, owner: str, name: str, fields: dict[str, Any]) -> SourceState:
        meta = source_json(self.seed, owner, name, "", "", now_us())
        meta.update(fields)
        source = SourceState(meta, CommentGenerator(self.seed, meta["id"], 0, "", _NO_COMMENTS))
        self.sources[source.id] = source
        return source

    def add_dataset(self, meta: dict[str, Any]) -> DatasetState:
        dataset = DatasetState(meta, generated=False)
        self.datasets[meta["id"]] = dataset
        return dataset

    # -- comments ------------------------------------------------------------------------
    def comment(self, source: SourceState, comment_id: str) -> dict[str, Any] | None:
        """The current JSON of a comment, or None if it does not exist (or was deleted)."""
        stored = source.upserts.get(comment_id)
        if stored is not None:
            return dict(stored.comment)
        k = source.gen.index_of(comment_id)
        if k is None or k in source.hidden:
            return None
        return source.gen.render(k)[0]

    def ref(self, source: SourceState, comment_id: str) -> Ref | None:
        """The comment as a :class:`Ref` keyed by timestamp, or None if it does not exist."""
        stored = source.upserts.get(comment_id)
        if stored is not None:
            return Ref(stored.us, source.uid_prefix + comment_id, source, -1)
        k = source.gen.index_of(comment_id)
        if k is None or k in source.hidden:
            return None
        return Ref(source.gen.ts(k), source.uid_prefix + comment_id, source, k)

    def timestamp_us(self, ref: Ref) -> int:
        """The comment's own timestamp, whichever key ``ref`` was iterated by."""
        if ref.k >= 0:
            return ref.source.gen.ts(ref.k)
        return ref.source.upserts[ref.uid[len(ref.source.uid_prefix) :]].us

    def render(self, ref: Ref) -> tuple[dict[str, Any], Facts | None, list[Span]]:
        """A comment's JSON plus, for a generated one, its facts and entity spans."""
        if ref.k >= 0:
            return ref.source.gen.render(ref.k)
        comment_id = ref.uid[len(ref.source.uid_prefix) :]
        return dict(ref.source.upserts[comment_id].comment), None, []

    def upsert(
        self,
        source: SourceState,
        comments: list[tuple[dict[str, Any], int]],
        *,
        overwrite: bool = True,
    ) -> Counts:
        """Insert or update comments, given as (validated JSON, timestamp in µs).

        With ``overwrite=False`` nothing is written if any id already holds different
        content: the conflicting ids are raised as a KeyError.
        """
        plans = []
        for comment, us in comments:
            old = self.comment(source, comment["id"])
            plans.append((comment, us, old, _change(old, comment, us)))
        conflicts = [c["id"] for c, _, old, change in plans if old is not None and change]
        if conflicts and not overwrite:
            raise KeyError(conflicts)
        tally = {"new": 0, "text": 0, "properties": 0, "": 0}
        now = now_us()
        for comment, us, old, change in plans:
            tally[change] += 1
            if change:
                self._write(source, comment, us, old, now)
        return Counts(tally["new"], tally["text"], tally["properties"], tally[""])

    def _write(
        self,
        source: SourceState,
        comment: dict[str, Any],
        us: int,
        old: dict[str, Any] | None,
        now: int,
    ) -> None:
        comment_id = comment["id"]
        if old is None:
            created_us = now
        elif comment_id in source.upserts:
            created_us = source.upserts[comment_id].created_us
        else:  # a generated comment keeps its place in streams
            k = source.gen.index_of(comment_id)
            assert k is not None
            created_us = source.gen.ts(k) + CREATED_LAG_US
        self._forget(source, comment_id)
        stored = dict(
            comment,
            uid=source.uid_prefix + comment_id,
            source_id=source.id,
            timestamp=format_ts(us),
            created_at=format_ts(created_us),
            last_modified=format_ts(now),
            has_annotations=False,
        )
        source.upserts[comment_id] = Stored(stored, us, created_us)
        insort(source.by_ts, (us, stored["uid"]))
        insort(source.by_created, (created_us, stored["uid"]))

    def delete(self, source: SourceState, comment_ids: list[str]) -> None:
        """Delete comments by id; ids that do not exist are ignored."""
        for comment_id in comment_ids:
            self._forget(source, comment_id)

    def _forget(self, source: SourceState, comment_id: str) -> None:
        stored = source.upserts.pop(comment_id, None)
        if stored is not None:
            uid = source.uid_prefix + comment_id
            source.by_ts.remove((stored.us, uid))
            source.by_created.remove((stored.created_us, uid))
        k = source.gen.index_of(comment_id)
        if k is not None:
            source.hidden.add(k)


def _change(old: dict[str, Any] | None, new: dict[str, Any], us: int) -> str:
    """``"new"``, ``"text"`` (messages differ), ``"properties"`` (something else does) or ``""``."""
    if old is None:
        return "new"
    if old.get("messages") != new.get("messages"):
        return "text"
    if old["timestamp"] != format_ts(us):
        return "properties"
    return "properties" if any(old.get(key) != new.get(key) for key in _CONTENT) else ""
