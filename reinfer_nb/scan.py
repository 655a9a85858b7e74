"""Find secrets in notebooks before they are committed or shared.

Notebooks keep their outputs, so a token can leak through a printed header as easily as
through a cell's source. The scan reads each notebook with nbformat and looks at every
cell source, every output (streams, errors and every mime type of display data, except
binary images) and the widget state saved in the notebook's metadata, for:

* ``token``: a known secret, by default the value of ``REINFER_TOKEN`` and the tokens of
  the named contexts in the contexts file (plus ``--secret`` / ``--secret-env``);
* ``authorization``: an ``Authorization`` header or ``Bearer``/``Basic`` credential
  with a literal value (``Bearer $REINFER_TOKEN`` and ``<token>`` are placeholders);
* ``jwt`` and well-known prefixed keys (``sandbox-token``, ``github-token``...);
* ``token-shaped``: a string of 40 or more letters, digits, ``-`` and ``_`` that mixes
  upper case, lower case and digits with a Shannon entropy above 4 bits per character,
  unless it is a paging token (after ``continuation``/``after``), base64 of plain text or
  an id (hex, possibly after a word prefix such as a widget's ``IPY_MODEL_``). Hex ids and
  uids have at most 4 bits per character, so they never match.

Run ``python -m reinfer_nb.scan notebooks/`` (files or folders). Each finding prints as
``PATH: cell N (source|output): kind: excerpt`` with the secret masked; cells count from
1 as they appear. The exit status is 0 when nothing is found, 1 on a finding and 2 when
an input cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .credentials import mask_token

__all__ = ["Finding", "known_secrets", "main", "scan_notebook", "scan_text"]

#: Shortest value treated as a known secret (shorter ones would match ordinary text).
MIN_SECRET_LENGTH = 8
GENERIC_MIN_LENGTH = 40
GENERIC_MIN_ENTROPY = 4.0

# Kinds, most specific first: where matches overlap, the earlier kind is reported.
_PRIORITY = ("token", "authorization", "jwt", "sandbox-token", "github-token", "aws-key",
             "slack-token", "private-key", "token-shaped")

_AUTH = re.compile(
    r"""(?ix)
    \b(?:authorization|proxy-authorization)\b ["']? \s* [:=] \s* ["']? \s*
    (?:(?:bearer|basic|token|apikey)\s+)?
    (?P<value>[^\s"',;)}\]]+)
    """
)
_SCHEME = re.compile(r"""(?x) \b(?:Bearer|Basic) \s+ (?P<value>[A-Za-z0-9._~+/=\-]{16,}) """)
_PATTERNS = (
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("sandbox-token", re.compile(r"\bsbx_[A-Za-z0-9_-]{16,}")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("aws-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("slack-token", re.compile(r"\bxox[abpors]-[A-Za-z0-9-]{10,}")),
    ("private-key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
_GENERIC = re.compile(
    rf"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{{{GENERIC_MIN_LENGTH},}}(?![A-Za-z0-9_\-])"
)
# Paging tokens are long and random-looking but grant nothing.
_PAGING_KEY = re.compile(
    r"""(?ix) (?:continuation|after|next_page_token|next|cursor|sequence_id|page_token)
    ["']? \s* [:=] \s* ["']? \s* $"""
)
# Ids: hex (or a uuid) after word prefixes, such as a widget's IPY_MODEL_<32 hex>.
_PREFIXED_ID = re.compile(r"(?:[A-Za-z]+[_-])*(?:[0-9a-f-]{16,}|[0-9A-F-]{16,})")
_PLACEHOLDER = re.compile(
    r"""(?x) ^(?: [$%{<\[(`] | \.\.\. | … | x{3,} | \*{3,} | [A-Z][A-Z0-9_]*$ )"""
)
_BINARY_MIME = re.compile(r"^(?:image/(?!svg)|application/pdf|video/|audio/)")


@dataclass(frozen=True)
class Finding:
    """One secret found: where (cell number from 1, or None for notebook metadata), what."""

    path: str | None
    cell: int | None
    where: str  # "source", "output", "attachment", "metadata" or "notebook metadata"
    kind: str
    excerpt: str  # the context with the secret masked

    def __str__(self) -> str:
        place = f"cell {self.cell} ({self.where})" if self.cell is not None else self.where
        return f"{self.path or '<notebook>'}: {place}: {self.kind}: {self.excerpt}"


# --------------------------------------------------------------------------- detection


def _entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _credential_like(value: str) -> bool:
    """A literal credential, not a placeholder (``$REINFER_TOKEN``, ``<token>``) or a word."""
    if len(value) < MIN_SECRET_LENGTH or _PLACEHOLDER.match(value):
        return False
    if any(mark in value for mark in ("…", "...", "***")):
        return False  # masked, as reinfer_nb shows tokens (…1a2b)
    return any(ch.isdigit() for ch in value) or (len(value) >= 16 and not value.isalpha())


def _decodes_to_text(value: str) -> bool:
    """Base64 (standard or URL-safe) of printable ASCII: an encoded id, not a random key."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return False
    return bool(raw) and all(32 <= b < 127 for b in raw)


def _token_shaped(text: str, start: int, value: str) -> bool:
    # Random keys mix all three classes; words joined by _ or - rarely have 2 digits.
    if not (re.search(r"[a-z]", value) and len(re.findall(r"[A-Z]", value)) >= 2
            and len(re.findall(r"[0-9]", value)) >= 2):
        return False
    if _entropy(value) <= GENERIC_MIN_ENTROPY or _PREFIXED_ID.fullmatch(value):
        return False
    if _PAGING_KEY.search(text[max(0, start - 40):start]):
        return False
    return not _decodes_to_text(value)


def _matches(text: str, secrets: Sequence[str]) -> Iterator[tuple[str, int, int]]:
    """Every ``(kind, start, end)`` in ``text``; overlaps are resolved by the caller."""
    for secret in secrets:
        at = text.find(secret)
        while at >= 0:
            yield "token", at, at + len(secret)
            at = text.find(secret, at + len(secret))
    for regex in (_AUTH, _SCHEME):
        for m in regex.finditer(text):
            if _credential_like(m.group("value")):
                yield "authorization", m.start("value"), m.end("value")
    for kind, regex in _PATTERNS:
        for m in regex.finditer(text):
            yield kind, m.start(), m.end()
    for m in _GENERIC.finditer(text):
        if _token_shaped(text, m.start(), m.group()):
            yield "token-shaped", m.start(), m.end()


def scan_text(text: str, secrets: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The ``(kind, masked excerpt)`` of each secret in ``text``, in order of position."""
    known = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    found = sorted(_matches(text, known), key=lambda m: (m[1], _PRIORITY.index(m[0]), -m[2]))
    kept: list[tuple[str, int, int]] = []
    for kind, start, end in found:
        overlapping = [k for k in kept if k[1] < end and start < k[2]]
        if overlapping:
            if all(_PRIORITY.index(kind) >= _PRIORITY.index(k[0]) for k in overlapping):
                continue
            kept = [k for k in kept if k not in overlapping]
        kept.append((kind, start, end))
    kept.sort(key=lambda k: k[1])
    return [(kind, _excerpt(text, start, end, kept)) for kind, start, end in kept]


def _excerpt(text: str, start: int, end: int, spans: list[tuple[str, int, int]]) -> str:
    """About 30 characters either side of the match on one line, every secret masked."""
    lo, hi = max(0, start - 30), min(len(text), end + 30)
    for _, s, e in spans:  # never cut a secret in half at the edges
        if s < lo < e:
            lo = s
        if s < hi < e:
            hi = e
    out, pos = [], lo
    for _, s, e in spans:
        if e <= lo or s >= hi:
            continue
        out.append(text[pos:s])
        out.append(mask_token(text[s:e]))
        pos = e
    out.append(text[pos:hi])
    line = " ".join("".join(out).split())
    return ("…" if lo > 0 else "") + line + ("…" if hi < len(text) else "")


# --------------------------------------------------------------------------- notebooks


def _join(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return json.dumps(value, ensure_ascii=False)


def _output_texts(output: Any) -> Iterator[str]:
    kind = output.get("output_type")
    if kind == "stream":
        yield _join(output.get("text", ""))
    elif kind == "error":
        yield f"{output.get('ename', '')}: {output.get('evalue', '')}"
        yield "\n".join(output.get("traceback") or [])
    for mime, value in (output.get("data") or {}).items():
        if not _BINARY_MIME.match(mime):
            yield _join(value)
    if output.get("metadata"):
        yield _join(output["metadata"])


def _read(path: Path) -> Any:
    import nbformat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a scan reads notebooks that fail validation too
        return nbformat.read(str(path), as_version=4)


def scan_notebook(
    path_or_nb: str | os.PathLike[str] | Any, secrets: Iterable[str] = ()
) -> list[Finding]:
    """The findings in one notebook (a path, or a notebook already read with nbformat).

    ``secrets`` are known values to look for (see :func:`known_secrets`); patterns are
    always applied. Raises ``OSError`` or ``ValueError`` when the file cannot be read.
    """
    if isinstance(path_or_nb, (str, os.PathLike)):
        label: str | None = str(path_or_nb)
        nb = _read(Path(path_or_nb))
    else:
        label, nb = None, path_or_nb
    secrets = list(secrets)
    findings: list[Finding] = []

    def add(cell: int | None, where: str, text: str) -> None:
        for kind, excerpt in scan_text(text, secrets):
            findings.append(Finding(label, cell, where, kind, excerpt))

    for number, cell in enumerate(nb.get("cells", []), start=1):
        add(number, "source", _join(cell.get("source", "")))
        for output in cell.get("outputs", []) or []:
            for text in _output_texts(output):
                add(number, "output", text)
        for name, bundle in (cell.get("attachments") or {}).items():
            add(number, "attachment", name + " " + _join(
                {k: v for k, v in bundle.items() if not _BINARY_MIME.match(k)}))
        if cell.get("metadata"):
            add(number, "metadata", _join(cell["metadata"]))
    if nb.get("metadata"):
        add(None, "notebook metadata", _join(nb["metadata"]))
    return findings


def known_secrets(
    env_vars: Iterable[str] = ("REINFER_TOKEN",),
    *,
    contexts: bool = True,
    environ: dict[str, str] | None = None,
) -> list[str]:
    """The current tokens: the values of ``env_vars`` and the named contexts' tokens."""
    env = os.environ if environ is None else environ
    values = [env.get(name, "").strip() for name in env_vars]
    if contexts:
        from .credentials import load_contexts
        from .errors import ConfigError

        try:
            values += [c.token.reveal() for c in load_contexts().contexts if c.token is not None]
        except ConfigError:
            pass
    return [v for v in values if len(v) >= MIN_SECRET_LENGTH]


def _notebooks(paths: Sequence[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
            )
        else:
            yield path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reinfer_nb.scan",
        description="Scan notebooks (sources and outputs) for API tokens, Authorization "
        "headers and token-shaped strings. Exit status: 0 clean, 1 findings, 2 unreadable.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="Notebooks or folders.")
    parser.add_argument("--secret", action="append", default=[], metavar="VALUE",
                        help="A value to look for (repeatable; prefer --secret-env, which "
                        "keeps it out of the shell history).")
    parser.add_argument("--secret-env", action="append", default=[], metavar="VAR",
                        help="Look for the value of this environment variable too "
                        "(REINFER_TOKEN always).")
    parser.add_argument("--no-contexts", action="store_true",
                        help="Do not look for the tokens of the named contexts.")
    args = parser.parse_args(argv)

    secrets = [*args.secret, *known_secrets(["REINFER_TOKEN", *args.secret_env],
                                            contexts=not args.no_contexts)]
    found = unreadable = scanned = 0
    for path in _notebooks(args.paths):
        try:
            findings = scan_notebook(path, secrets)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported alike
            print(f"{path}: cannot read: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
            unreadable += 1
            continue
        scanned += 1
        for finding in findings:
            print(finding)
        found += len(findings)
    summary = f"{found} finding(s) in {scanned} notebook(s)"
    print(summary + (f", {unreadable} unreadable" if unreadable else ""), file=sys.stderr)
    if found:
        return 1
    return 2 if unreadable or not scanned else 0


if __name__ == "__main__":
    sys.exit(main())
