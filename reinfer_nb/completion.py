"""Tab completion in the ``%reinfer_*`` magics, through IPython's public completer API.

``%load_ext reinfer_nb`` appends one matcher (API v2, made with
``IPython.core.completer.context_matcher``) to ``shell.Completer.custom_matchers``. It
completes, in every reinfer magic:

* option names (``--con`` -> ``--context``) and some option values: ``--context`` from
  the contexts file; ``--endpoint``, ``--org``, ``--tenant``, ``--domain`` from the
  endpoints saved there (never a token);
* API paths, one segment at a time, from the spec's templates, with ``{owner}``,
  ``{source_name}``, ``{dataset_name}``... filled from the logged-in tenant's names
  (fetched in the background, see :mod:`reinfer_nb.live_names`; the completer waits at
  most a quarter of a second, then completes from the spec alone);
* the query parameter names of the operation, on the later lines of a GET/DELETE cell
  (or as ``name=`` on a line magic).

When it has completions it suppresses IPython's other matchers, so ``%reinfer_login --de``
offers ``--demo`` and not ``delattr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from IPython.core.completer import (
    CompletionContext,
    SimpleCompletion,
    SimpleMatcherResult,
    context_matcher,
)

from .api_index import HTTP_METHODS, api_index
from .credentials import load_contexts
from .errors import ConfigError

if TYPE_CHECKING:
    from .live_names import TenantNames
    from .magics import ReinferMagics

__all__ = ["NAMES_WAIT", "MagicCompleter", "make_matcher"]

NAMES_WAIT = 0.25  # seconds the completer may wait for the tenant's names, once
MATCHER_ID = "reinfer_nb.magics"
_REQUEST_MAGICS = {"reinfer_get": "GET", "reinfer_delete": "DELETE", "reinfer_post": "POST",
                   "reinfer_put": "PUT"}
_PATH_START = ("/", "api/", "auth/", "v1/", "_private/", "preview/")


def _nothing() -> SimpleMatcherResult:
    # A new dict each time: IPython writes its own fragment into the result.
    return cast(SimpleMatcherResult, {"completions": [], "suppress": False})


def make_matcher(magics: ReinferMagics) -> Any:
    """The matcher to append to ``shell.Completer.custom_matchers``."""
    completer = MagicCompleter(magics)

    @context_matcher(identifier=MATCHER_ID)
    def reinfer_matcher(context: CompletionContext) -> SimpleMatcherResult:
        return completer.complete(context)

    return reinfer_matcher


class MagicCompleter:
    """What the matcher completes (kept apart from IPython's registration for clarity)."""

    def __init__(self, magics: ReinferMagics) -> None:
        self.magics = magics

    def complete(self, context: CompletionContext) -> SimpleMatcherResult:
        lines = context.full_text.split("\n")
        before = context.text_until_cursor
        word = re.split(r"\s", before)[-1]
        head = before.lstrip()
        if head.startswith("%%reinfer_") and context.cursor_line == 0:
            return self._magic_line(head[2:], word, cell=True)
        if head.startswith("%reinfer_") and not head.startswith("%%"):
            return self._magic_line(head[1:], word, cell=False)
        first = lines[0].lstrip()
        if context.cursor_line > 0 and first.startswith("%%reinfer_"):
            return self._cell_body(lines, context.cursor_line, before, word)
        return _nothing()

    # -- the magic's line -------------------------------------------------------------

    def _magic_line(self, text: str, word: str, *, cell: bool) -> SimpleMatcherResult:
        name, space, rest = text.partition(" ")
        if not space:
            return _nothing()  # still typing the magic's name: IPython completes it
        parser = self._parser(name)
        if parser is None:
            return _nothing()
        tokens = rest.split()
        if word and tokens:
            tokens.pop()
        expecting, positionals, given = _scan(parser, tokens)
        if expecting is not None:
            return _result(self._option_values(expecting, given, word), word)
        if word.startswith("-"):
            return _result(
                [(opt, "option") for opt in _option_strings(parser) if opt.startswith(word)],
                word,
            )
        method = _REQUEST_MAGICS.get(name)
        if method is not None:
            if not positionals:
                return _result(self._paths(word, method), word)
            if method in ("GET", "DELETE") and not cell and "=" not in word:
                names = self._query_names(method, positionals[0])
                return _result([(f"{n}=", "query") for n in names if n.startswith(word)], word)
        if name == "reinfer_api":
            if not positionals and word.startswith(_PATH_START):
                return _result(self._paths(word, None), word)
            if len(positionals) == 1 and positionals[0].upper() in HTTP_METHODS:
                return _result(self._paths(word, positionals[0].upper()), word)
        return _nothing()

    def _parser(self, name: str) -> Any:
        shell = self.magics.shell
        if shell is None:
            return None
        magic = shell.magics_manager.magics["line"].get(name) or (
            shell.magics_manager.magics["cell"].get(name)
        )
        return getattr(magic, "parser", None)

    def _option_values(
        self, action: Any, given: dict[str, str], word: str
    ) -> list[tuple[str, str]]:
        """Values of ``--context`` and of the endpoint options, from the contexts file."""
        dest = action.dest
        if dest not in ("context", "endpoint", "org", "tenant", "domain"):
            return []
        try:
            contexts = load_contexts(given.get("contexts_file")).contexts
        except ConfigError:
            return []
        if dest == "context":
            values = [ctx.name for ctx in contexts]
        else:
            values = [v for ctx in contexts for v in [_endpoint_part(ctx.endpoint, dest)] if v]
        return [(v, dest) for v in dict.fromkeys(values) if v.startswith(word)]

    # -- the cell's body --------------------------------------------------------------

    def _cell_body(
        self, lines: list[str], row: int, before: str, word: str
    ) -> SimpleMatcherResult:
        name = lines[0].lstrip()[2:].split(" ", 1)[0]
        method = _REQUEST_MAGICS.get(name)
        parser = self._parser(name)
        if method is None or parser is None:
            return _nothing()
        _, positionals, _ = _scan(parser, lines[0].split()[1:])
        path = positionals[0] if positionals else None
        path_row = None
        if path is None:
            for number, line in enumerate(lines[1:], start=1):
                text = _strip_comment(line)
                if text or number == row:
                    path_row, path = number, text
                    break
        if path_row == row:
            if before.strip() != word:  # something else before the word on the path line
                return _nothing()
            return _result(self._paths(word, method), word)
        if method not in ("GET", "DELETE") or not path:
            return _nothing()
        typed = before.lstrip()
        if typed != word or ":" in typed or "=" in typed or typed.startswith("#"):
            return _nothing()
        names = self._query_names(method, path)
        return _result([(n, "query") for n in names if n.startswith(word)], word)

    # -- paths and parameters ---------------------------------------------------------

    def _names(self) -> TenantNames | None:
        live = self.magics.live_names
        return live.get(wait=NAMES_WAIT) if live is not None else None

    def _paths(self, word: str, method: str | None) -> list[tuple[str, str]]:
        if word and not word.startswith(_PATH_START):
            return []
        fetched: list[TenantNames | None] = []

        def values(name: str, previous: str, filled: Mapping[str, str]) -> Sequence[str] | None:
            # Asked only when a parameter segment is being completed: the names are
            # fetched no earlier, and once per completion.
            if not fetched:
                fetched.append(self._names())
            names = fetched[0]
            return names.values(name, previous, filled) if names is not None else None

        found = api_index().complete_path(word, method=method, values=values)
        return [(c.text, " ".join(c.methods) or "path") for c in found]

    def _query_names(self, method: str, path: str) -> list[str]:
        match = api_index().match(method, path)
        return [p.name for p in match.operation.query_parameters] if match else []


def _scan(parser: Any, tokens: Sequence[str]) -> tuple[Any, list[str], dict[str, str]]:
    """Walk a magic's tokens: the option awaiting a value (or None), the positionals,
    and the values given so far (by option dest)."""
    # argparse offers no public list of a parser's options; _actions is what its own
    # help formatter (and argcomplete) reads.
    actions = {opt: action for action in parser._actions for opt in action.option_strings}
    expecting: Any = None
    positionals: list[str] = []
    given: dict[str, str] = {}
    for token in tokens:
        if expecting is not None:
            given[expecting.dest], expecting = token, None
            continue
        if token.startswith("-") and len(token) > 1:
            option, eq, value = token.partition("=")
            action = actions.get(option)
            if action is not None and action.nargs != 0:
                if eq:
                    given[action.dest] = value
                else:
                    expecting = action
            continue
        positionals.append(token)
    return expecting, positionals, given


def _option_strings(parser: Any) -> list[str]:
    return [opt for action in parser._actions for opt in action.option_strings]


def _endpoint_part(endpoint: str, part: str) -> str:
    """``org``, ``tenant``, ``domain`` or the ``endpoint`` itself of a saved endpoint."""
    if part == "endpoint":
        return endpoint
    try:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        host = (url.hostname or "").lower()
    except ValueError:
        return ""
    segments = [s for s in url.path.split("/") if s]
    if part == "domain":
        return host.removesuffix(".reinfer.io") if host.endswith(".reinfer.io") else ""
    if host.endswith("uipath.com") and len(segments) >= 2:
        return segments[0] if part == "org" else segments[1]
    return ""


def _strip_comment(line: str) -> str:
    text = line.strip()
    return "" if text.startswith("#") else re.split(r"\s#", text, maxsplit=1)[0].strip()


def _result(found: list[tuple[str, str]], fragment: str) -> SimpleMatcherResult:
    """Our completions, replacing ``fragment``. Where the completer knows the text is
    ours (a path, an option) but nothing continues it, the fragment itself is the only
    completion: nothing changes, and Python names (``staticmethod``) stay out."""
    if not found and fragment:
        found = [(fragment, "none")]
    return cast(SimpleMatcherResult, {
        "completions": [SimpleCompletion(text, type=kind) for text, kind in found],
        "matched_fragment": fragment,
        "suppress": True,
    })
