"""The sandbox's state: resources, the overlay of written comments, labellings, media and
stream cursors, seeded from :func:`.sample.build_world`.

Generated comments are never stored. Writes go into a small overlay per source
(``upserts`` by id, ``hidden`` generated comments), which :mod:`.paging` merges in.
Callers hold :attr:`Store.lock` around every read or write of the overlay, so a page
or a batch sees one consistent state; every write bumps :attr:`Store.version`, so
answers computed over many comments can be cached until the next write.

What a dataset says about a comment (:meth:`Store.view`) is derived, never stored twice:
seeded datasets carry sample annotations on their generated comments (the ``reviewed``
ones of :meth:`.sample.CommentGenerator.facts`) and sample predictions; a labelling written
through the API replaces a comment's annotations in that dataset. ``has_annotations`` of a
comment follows from every dataset that holds its source.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

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

__all__ = [
    "MAX_MEDIA",
    "BucketState",
    "Counts",
    "DatasetState",
    "Key",
    "LabelView",
    "MediaFull",
    "Ref",
    "SourceState",
    "Store",
    "Stored",
    "StreamState",
]


Key = tuple[int, str]
MAX_MEDIA = 256 * 1024 * 1024  # bytes of audio and attachments one sandbox keeps


class MediaFull(Exception):
    """Storing a file would take the sandbox past :data:`MAX_MEDIA`."""


class Stored(NamedTuple):
    """A written comment: its API JSON, timestamp and creation time (microseconds)."""

    comment: dict[str, Any]
    us: int
    created_us: int


@dataclass
class Media:
    """Uploaded files of one comment: its audio and attachment contents by index."""

    audio: bytes | None = None
    attachments: dict[int, tuple[str, str, bytes]] = field(default_factory=dict)
    # index -> (attachment_reference, content_hash, content)


@dataclass(eq=False)
class SourceState:
    """A source: its JSON, its generated comments and the overlay of writes."""

    meta: dict[str, Any]
    gen: CommentGenerator
    hidden: set[int] = field(default_factory=set)  # generated comments deleted or replaced
    upserts: dict[str, Stored] = field(default_factory=dict)
    by_ts: list[Key] = field(default_factory=list)  # sorted keys of ``upserts``
    by_created: list[Key] = field(default_factory=list)
    media: dict[str, Media] = field(default_factory=dict)  # comment id -> uploaded files

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
    """A dataset and the annotations it holds.

    ``generated`` (seeded) datasets have a model (version 1) that predicts every generated
    comment; ``sample_sources`` are the sources whose generated comments carry the sample
    annotations (all of a seeded dataset's sources; for a copy, those it shares with the
    dataset it copied from). ``labellings`` (by uid) are what the API wrote.
    """

    meta: dict[str, Any]
    generated: bool
    labellings: dict[str, dict[str, Any]] = field(default_factory=dict)
    streams: dict[str, StreamState] = field(default_factory=dict)
    sample_sources: frozenset[str] = frozenset()

    @property
    def full_name(self) -> str:
        return f"{self.meta['owner']}/{self.meta['name']}"


@dataclass(eq=False)
class BucketState:
    """A bucket (where raw emails land before they become comments)."""

    meta: dict[str, Any]


class LabelView(NamedTuple):
    """A comment's annotations in one dataset, as filters and statistics need them."""

    reviewed: bool  # labels were assigned or dismissed (by a person, or in the samples)
    assigned: tuple[tuple[str, str], ...]  # (label, sentiment)
    dismissed: tuple[str, ...]
    entities: tuple[str, ...]  # kinds of the assigned entities
    has_entities: bool  # entities were assigned or dismissed


class Counts(NamedTuple):
    """What a sync did, as the API reports it."""

    new: int
    updated_text_changed: int
    updated_properties_only: int
    unchanged: int


# The fields besides messages and timestamp that tell an update from a no-op.
_CONTENT = ("thread_id", "user_properties", "attachments", "text_format")
_NO_COMMENTS: tuple[str, ...] = ()
_EMPTY = LabelView(False, (), (), (), False)
_MEMO_SIZE = 64


class Store:
    """Everything the sandbox knows; see the module docstring for the locking rule."""

    def __init__(self, seed: int, comments: int) -> None:
        world: World = build_world(seed, comments)
        self.seed = seed
        self.lock = threading.RLock()
        self.version = 0
        self.users = {user["username"]: user for user in world.users}
        self.projects = {project["name"]: project for project in world.projects}
        self.sources: dict[str, SourceState] = {}
        self.datasets: dict[str, DatasetState] = {}
        self.buckets: dict[str, BucketState] = {}
        self.media_bytes = 0
        self._memo: dict[Any, Any] = {}
        self._memo_version = -1
        for meta in world.sources:
            self.sources[meta["id"]] = SourceState(meta, world.generators[meta["id"]])
        for meta in world.datasets:
            self.datasets[meta["id"]] = DatasetState(
                meta, generated=True, sample_sources=frozenset(meta["source_ids"])
            )
        for meta in world.streams:
            self.datasets[meta["dataset_id"]].streams[meta["name"]] = StreamState(meta)

    def touch(self) -> None:
        """Record a write (answers cached by :meth:`memo` are recomputed)."""
        self.version += 1

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered under ``key`` until the next write (hold the lock)."""
        if self._memo_version != self.version or len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
            self._memo_version = self.version
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- lookups -----------------------------------------------------------------------
    def source(self, owner: str, name: str) -> SourceState | None:
        with self.lock:
            return _named(self.sources.values(), owner, name)

    def dataset(self, owner: str, name: str) -> DatasetState | None:
        with self.lock:
            return _named(self.datasets.values(), owner, name)

    def bucket(self, owner: str, name: str) -> BucketState | None:
        with self.lock:
            return _named(self.buckets.values(), owner, name)

    def dataset_sources(self, dataset: DatasetState) -> list[SourceState]:
        return [self.sources[sid] for sid in dataset.meta["source_ids"] if sid in self.sources]

    def datasets_of(self, source: SourceState) -> list[DatasetState]:
        return [d for d in self.datasets.values() if source.id in d.meta["source_ids"]]

    # -- resources -----------------------------------------------------------------------
    def add_source(self, owner: str, name: str, fields: dict[str, Any]) -> SourceState:
        meta = source_json(self.seed, owner, name, "", "", now_us())
        meta.update(fields)
        source = SourceState(meta, CommentGenerator(self.seed, meta["id"], 0, "", _NO_COMMENTS))
        self.sources[source.id] = source
        self.touch()
        return source

    def add_dataset(
        self, meta: dict[str, Any], copy_from: DatasetState | None = None
    ) -> DatasetState:
        """A new dataset; ``copy_from`` gives it that dataset's annotations of shared sources."""
        dataset = DatasetState(meta, generated=False)
        if copy_from is not None:
            shared = set(meta["source_ids"])
            dataset.sample_sources = copy_from.sample_sources & shared
            dataset.labellings = {
                uid: _copy_labelling(labelling)
                for uid, labelling in copy_from.labellings.items()
                if uid.partition(".")[0] in shared
            }
        self.datasets[meta["id"]] = dataset
        self.touch()
        return dataset

    def add_bucket(self, meta: dict[str, Any]) -> BucketState:
        bucket = BucketState(meta)
        self.buckets[meta["id"]] = bucket
        self.touch()
        return bucket

    def delete_source(self, source: SourceState) -> None:
        """The source, its comments, media, and every dataset's annotations of them."""
        self.sources.pop(source.id, None)
        self.media_bytes -= sum(_media_size(m) for m in source.media.values())
        for dataset in self.datasets.values():
            if source.id in dataset.meta["source_ids"]:
                dataset.meta["source_ids"] = [
                    s for s in dataset.meta["source_ids"] if s != source.id
                ]
            dataset.sample_sources = dataset.sample_sources - {source.id}
            for uid in [u for u in dataset.labellings if u.startswith(source.uid_prefix)]:
                del dataset.labellings[uid]
        self.touch()

    def delete_dataset(self, dataset: DatasetState) -> None:
        """The dataset with its annotations and streams (its sources stay)."""
        self.datasets.pop(dataset.meta["id"], None)
        self.touch()

    def delete_bucket(self, bucket: BucketState) -> None:
        """The bucket; sources that named it no longer do."""
        self.buckets.pop(bucket.meta["id"], None)
        for source in self.sources.values():
            if source.meta.get("bucket_id") == bucket.meta["id"]:
                del source.meta["bucket_id"]
        self.touch()

    def delete_project(self, name: str) -> None:
        """The project, everything in it, and every user's permissions in it."""
        for source in [s for s in self.sources.values() if s.meta["owner"] == name]:
            self.delete_source(source)
        for dataset in [d for d in self.datasets.values() if d.meta["owner"] == name]:
            self.delete_dataset(dataset)
        for bucket in [b for b in self.buckets.values() if b.meta["owner"] == name]:
            self.delete_bucket(bucket)
        self.projects.pop(name, None)
        for user in self.users.values():
            for key in ("organisation_permissions", "derived_organisation_permissions"):
                user.get(key, {}).pop(name, None)
        self.touch()

    def resource_counts(self, project: str) -> dict[str, int]:
        def owned(table: dict[str, Any]) -> int:
            return sum(1 for r in table.values() if r.meta["owner"] == project)

        return {
            "buckets": owned(self.buckets),
            "dashboards": 0,
            "datasets": owned(self.datasets),
            "integrations": 0,
            "sources": owned(self.sources),
            "users_with_permissions": sum(
                1 for u in self.users.values() if u["organisation_permissions"].get(project)
            ),
        }

    # -- comments ------------------------------------------------------------------------
    def comment(self, source: SourceState, comment_id: str) -> dict[str, Any] | None:
        """The current JSON of a comment, or None if it does not exist (or was deleted)."""
        ref = self.ref(source, comment_id)
        return None if ref is None else self.render(ref)[0]

    def ref(self, source: SourceState, comment_id: str) -> Ref | None:
        """The comment as a :class:`Ref` keyed by timestamp, or None if it does not exist."""
        stored = source.upserts.get(comment_id)
        if stored is not None:
            return Ref(stored.us, source.uid_prefix + comment_id, source, -1)
        k = source.gen.index_of(comment_id)
        if k is None or k in source.hidden:
            return None
        return Ref(source.gen.ts(k), source.uid_prefix + comment_id, source, k)

    def ref_by_uid(self, uid: str) -> Ref | None:
        source_id, _, comment_id = uid.partition(".")
        source = self.sources.get(source_id)
        return None if source is None or not comment_id else self.ref(source, comment_id)

    def timestamp_us(self, ref: Ref) -> int:
        """The comment's own timestamp, whichever key ``ref`` was iterated by."""
        if ref.k >= 0:
            return ref.source.gen.ts(ref.k)
        return ref.source.upserts[_comment_id(ref)].us

    def render(self, ref: Ref) -> tuple[dict[str, Any], Facts | None, list[Span]]:
        """A comment's JSON plus, for a generated one, its facts and entity spans.

        ``has_annotations`` says whether any dataset holding its source annotates it.
        """
        if ref.k >= 0:
            comment, facts, spans = ref.source.gen.render(ref.k)
        else:
            comment, facts, spans = dict(ref.source.upserts[_comment_id(ref)].comment), None, []
        comment["has_annotations"] = self.has_annotations(ref, facts)
        media = ref.source.media.get(_comment_id(ref))
        if media is not None and media.attachments:
            comment["attachments"] = [
                _uploaded(a, media.attachments[i]) if i in media.attachments else a
                for i, a in enumerate(comment["attachments"])
            ]
        return comment, facts, spans

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
            old = self._raw_comment(source, comment["id"])
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
        self.touch()
        return Counts(tally["new"], tally["text"], tally["properties"], tally[""])

    def _raw_comment(self, source: SourceState, comment_id: str) -> dict[str, Any] | None:
        stored = source.upserts.get(comment_id)
        if stored is not None:
            return stored.comment
        k = source.gen.index_of(comment_id)
        if k is None or k in source.hidden:
            return None
        return source.gen.render(k)[0]

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
        )
        source.upserts[comment_id] = Stored(stored, us, created_us)
        insort(source.by_ts, (us, stored["uid"]))
        insort(source.by_created, (created_us, stored["uid"]))

    def delete(self, source: SourceState, comment_ids: list[str]) -> None:
        """Delete comments by id, with their annotations and media; unknown ids are ignored."""
        for comment_id in comment_ids:
            self._forget(source, comment_id)
            uid = source.uid_prefix + comment_id
            for dataset in self.datasets.values():
                dataset.labellings.pop(uid, None)
            media = source.media.pop(comment_id, None)
            if media is not None:
                self.media_bytes -= _media_size(media)
        self.touch()

    def _forget(self, source: SourceState, comment_id: str) -> None:
        stored = source.upserts.pop(comment_id, None)
        if stored is not None:
            uid = source.uid_prefix + comment_id
            source.by_ts.remove((stored.us, uid))
            source.by_created.remove((stored.created_us, uid))
        k = source.gen.index_of(comment_id)
        if k is not None:
            source.hidden.add(k)

    # -- annotations -----------------------------------------------------------------------
    def sample_annotated(self, dataset: DatasetState, ref: Ref) -> bool:
        """Whether ``ref`` carries the sample annotations in ``dataset`` (nothing written)."""
        return ref.k >= 0 and ref.source.id in dataset.sample_sources

    def view(self, dataset: DatasetState, ref: Ref, facts: Facts | None = None) -> LabelView:
        """What ``dataset`` says about ``ref`` (cheap: nothing is rendered)."""
        stored = dataset.labellings.get(ref.uid)
        if stored is not None:
            assigned = tuple((label["name"], label["sentiment"]) for label in stored["assigned"])
            dismissed = tuple(label["name"] for label in stored["dismissed"])
            entities = stored.get("entities", {})
            kinds = tuple(e["kind"] for e in entities.get("assigned", ()))
            has_entities = bool(kinds or entities.get("dismissed"))
            return LabelView(bool(assigned or dismissed), assigned, dismissed, kinds, has_entities)
        if self.sample_annotated(dataset, ref):
            facts = facts or ref.source.gen.facts(ref.k)
            if facts.reviewed:
                labels = tuple((name, "positive") for name in facts.labels)
                return LabelView(True, labels, (), (), False)
        return _EMPTY

    def has_annotations(self, ref: Ref, facts: Facts | None = None) -> bool:
        """Whether any dataset that holds the comment's source annotates it."""
        for dataset in self.datasets.values():
            if ref.source.id in dataset.meta["source_ids"]:
                view = self.view(dataset, ref, facts)
                if view.reviewed or view.has_entities:
                    return True
        return False

    def set_labelling(self, dataset: DatasetState, uid: str, labelling: dict[str, Any]) -> None:
        """Replace what ``dataset`` says about comment ``uid``; new labels join its taxonomy."""
        dataset.labellings[uid] = labelling
        names = [label["name"] for key in ("assigned", "dismissed") for label in labelling[key]]
        self.grow_taxonomy(dataset, names)
        self.touch()

    def grow_taxonomy(self, dataset: DatasetState, names: Iterable[str]) -> None:
        """Add labels (and their parents) that ``dataset`` does not define yet."""
        defs = dataset.meta["label_defs"]
        known = {d["name"] for d in defs}
        for name in names:
            parts = name.split(" > ")
            for depth in range(1, len(parts) + 1):
                label = " > ".join(parts[:depth])
                if label not in known:
                    known.add(label)
                    defs.append(
                        {
                            "name": label,
                            "title": parts[depth - 1],
                            "instructions": "",
                            "trainable": True,
                        }
                    )
        for group in dataset.meta.get("label_groups", []):
            if group["name"] == "default":
                group["label_defs"] = defs

    # -- media ---------------------------------------------------------------------------
    def set_audio(self, source: SourceState, comment_id: str, data: bytes) -> None:
        media = source.media.setdefault(comment_id, Media())
        self._account(len(data) - len(media.audio or b""))
        media.audio = data
        self.touch()

    def set_attachment(self, source: SourceState, comment_id: str, index: int, data: bytes) -> str:
        """Store attachment ``index`` of a comment; returns its content hash (SHA-256)."""
        media = source.media.setdefault(comment_id, Media())
        old = media.attachments.get(index)
        self._account(len(data) - (len(old[2]) if old else 0))
        content_hash = hashlib.sha256(data).hexdigest()
        reference = hashlib.sha256(f"{source.id}/{comment_id}/{index}".encode()).hexdigest()[:32]
        media.attachments[index] = (reference, content_hash, data)
        self.touch()
        return content_hash

    def attachment(self, reference: str) -> tuple[SourceState, bytes] | None:
        """The content of an uploaded attachment by its ``attachment_reference``."""
        for source in self.sources.values():
            for media in source.media.values():
                for ref, _, data in media.attachments.values():
                    if ref == reference:
                        return source, data
        return None

    def _account(self, delta: int) -> None:
        if self.media_bytes + delta > MAX_MEDIA:
            raise MediaFull(
                f"the sandbox keeps at most {MAX_MEDIA // 2**20} MiB of audio and attachments"
            )
        self.media_bytes += delta


_Named = TypeVar("_Named", "SourceState", "DatasetState", "BucketState")


def _named(resources: Iterable[_Named], owner: str, name: str) -> _Named | None:
    return next(
        (r for r in resources if r.meta["owner"] == owner and r.meta["name"] == name), None
    )


def _comment_id(ref: Ref) -> str:
    return ref.uid[len(ref.source.uid_prefix) :]


def _copy_labelling(labelling: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else dict(v) for k, v in labelling.items()}


def _uploaded(attachment: dict[str, Any], upload: tuple[str, str, bytes]) -> dict[str, Any]:
    return dict(attachment, attachment_reference=upload[0], content_hash=upload[1])


def _media_size(media: Media) -> int:
    return len(media.audio or b"") + sum(len(a[2]) for a in media.attachments.values())


def _change(old: dict[str, Any] | None, new: dict[str, Any], us: int) -> str:
    """``"new"``, ``"text"`` (messages differ), ``"properties"`` (something else does) or ``""``."""
    if old is None:
        return "new"
    if old.get("messages") != new.get("messages"):
        return "text"
    if old["timestamp"] != format_ts(us):
        return "properties"
    return "properties" if any(old.get(key) != new.get(key) for key in _CONTENT) else ""
