"""Ordered iteration over comments and opaque continuation tokens (keyset paging).

Every comment has a key ``(microseconds, uid)``: its timestamp (or its creation time, for
streams) and its uid, which breaks ties. Iterating merges, per source, the generated
comments (found by arithmetic, skipping hidden ones) with the overlay of written comments
(a sorted list of keys), then merges the sources. A page stops after ``limit`` results
and its token is the key of the last result, so the next page starts strictly after it:
every comment is returned once, in order, whatever is written between pages.
"""

from __future__ import annotations

import base64
import binascii
import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator

from .sample import CREATED_LAG_US
from .store import Key, Ref, SourceState

__all__ = ["count", "decode_token", "encode_token", "iterate", "since", "take", "until"]

# Sorts after every uid: ``(t, MAX_UID)`` bounds "everything at time t".
MAX_UID = "\U0010ffff"


def since(us: int) -> Key:
    """The key just before time ``us``: iterating after it starts at ``us``."""
    return (us - 1, MAX_UID)


def until(us: int) -> Key:
    """The key just after time ``us``: iterating down from it starts at ``us``."""
    return (us + 1, "")


def encode_token(key: Key) -> str:
    """An opaque, URL-safe token for ``key``."""
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode().rstrip("=")


def decode_token(token: str) -> Key:
    """The key in a token from :func:`encode_token`; ValueError if it is not one."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        us, uid = text.split(":", 1)
        return (int(us), uid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(token) from None


def iterate(
    sources: Iterable[SourceState],
    *,
    after: Key | None = None,
    descending: bool = False,
    by_created: bool = False,
) -> Iterator[Ref]:
    """All comments of ``sources`` strictly after ``after`` in key order (merged)."""
    parts = []
    for src in sources:
        parts.append(_generated(src, after, descending, by_created))
        parts.append(_overlay(src, after, descending, by_created))
    # Keys are unique, so comparing Refs never reaches the source object.
    return heapq.merge(*parts, reverse=descending)


def count(sources: Iterable[SourceState], low: int | None, high: int | None) -> int:
    """How many comments of ``sources`` have a timestamp in ``[low, high]`` (arithmetic on
    the generated ones, a bisection of the overlay: no comment is generated)."""
    total = 0
    lo_key = since(low) if low is not None else None
    hi_key = until(high) if high is not None else None
    for src in sources:
        gen = src.gen
        first = 0 if low is None else gen.first_at_or_after(low)
        end = gen.n if high is None else gen.first_at_or_after(high + 1)
        total += max(end - first, 0)
        total -= sum(1 for k in src.hidden if first <= k < end)
        keys = src.by_ts
        start = 0 if lo_key is None else bisect_right(keys, lo_key)
        stop = len(keys) if hi_key is None else bisect_left(keys, hi_key)
        total += max(stop - start, 0)
    return total


def take(
    refs: Iterator[Ref],
    limit: int,
    keep: Callable[[Ref], bool] | None = None,
    stop: Callable[[Ref], bool] | None = None,
) -> tuple[list[Ref], bool]:
    """Up to ``limit`` refs that ``keep`` accepts, ending where ``stop`` says.

    Returns the refs and whether another accepted ref follows them.
    """
    out: list[Ref] = []
    for ref in refs:
        if stop is not None and stop(ref):
            break
        if keep is not None and not keep(ref):
            continue
        if len(out) == limit:
            return out, True
        out.append(ref)
    return out, False


def _generated(
    src: SourceState, after: Key | None, descending: bool, by_created: bool
) -> Iterator[Ref]:
    gen, hidden, prefix = src.gen, src.hidden, src.uid_prefix
    shift = CREATED_LAG_US if by_created else 0
    n = gen.n
    if after is None:
        k = n - 1 if descending else 0
    else:
        us, uid = after
        k = gen.first_at_or_after(us - shift)  # first comment not before ``us``
        same = k < n and gen.ts(k) + shift == us
        if descending:
            k = k if same and prefix + gen.comment_id(k) < uid else k - 1
        elif same and prefix + gen.comment_id(k) <= uid:
            k += 1
    step = -1 if descending else 1
    while 0 <= k < n:
        if k not in hidden:
            yield Ref(gen.ts(k) + shift, prefix + gen.comment_id(k), src, k)
        k += step


def _overlay(
    src: SourceState, after: Key | None, descending: bool, by_created: bool
) -> Iterator[Ref]:
    keys = src.by_created if by_created else src.by_ts
    if descending:
        i = len(keys) - 1 if after is None else bisect_left(keys, after) - 1
        while i >= 0:
            yield Ref(keys[i][0], keys[i][1], src, -1)
            i -= 1
    else:
        i = 0 if after is None else bisect_right(keys, after)
        while i < len(keys):
            yield Ref(keys[i][0], keys[i][1], src, -1)
            i += 1
