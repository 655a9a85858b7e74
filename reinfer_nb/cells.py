"""The cell grammar of the request magics (pure; no IPython).

``%%reinfer_get`` / ``%%reinfer_delete`` body::

    # comments are allowed anywhere
    /api/_private/sources/{owner}/{source}/comments    <- the path (first non-blank line)
    limit: 100                                          <- one query parameter a line
    from_timestamp = {start}                            <- `name: value` or `name=value`

``%%reinfer_post`` / ``%%reinfer_put`` body: the path line, then a JSON body.

``%%reinfer_comments`` body: one option a line (:func:`parse_option_cell`), its value the
rest of the line, unquoted (``--label Billing > Refund``).

``{var}`` expands from the notebook's namespace (``{obj.attr}``, ``{d[key]}`` and format
specs work as in ``str.format``; ``{{`` and ``}}`` are literal braces). In the path the
values are URL-encoded; in query parameters they are sent as they are (requests encodes
them once). Every problem raises :class:`~reinfer_nb.errors.ConfigError` naming the line.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import ConfigError

__all__ = ["CallSpec", "interpolate", "parse_body_cell", "parse_option_cell", "parse_query_cell"]

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]-]*$")
_OPTION = re.compile(r"^(-{1,2}[A-Za-z][A-Za-z0-9-]*)(?:=|\s+|$)(.*)$")
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class CallSpec:
    """What a cell asks for: the path, query parameters (in order) and a JSON body."""

    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    has_body: bool = False

    @property
    def query(self) -> dict[str, Any]:
        """The query parameters as requests takes them: a repeated name becomes a list
        (``id: a`` and ``id: b`` give ``id=a&id=b``)."""
        grouped: dict[str, Any] = {}
        for name, value in self.params:
            if name in grouped:
                existing = grouped[name]
                grouped[name] = (
                    [*existing, value] if isinstance(existing, list) else [existing, value]
                )
            else:
                grouped[name] = value
        return grouped


def interpolate(text: str, namespace: Mapping[str, Any], *, url_encode: bool) -> str:
    """Expand ``{name}`` fields from ``namespace``; URL-encode the values if asked."""
    if "{" not in text and "}" not in text:
        return text
    out: list[str] = []
    try:
        pieces = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ConfigError(
            f"Unbalanced braces in {text!r} ({exc}): write a literal brace as {{{{ or }}}}."
        ) from None
    for literal, name, spec, conversion in pieces:
        out.append(literal)
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ConfigError(f"Empty or numeric placeholder in {text!r}: use {{variable_name}}.")
        try:
            value, _ = _FORMATTER.get_field(name, (), namespace)
        except (KeyError, IndexError):
            raise ConfigError(
                f"{{{name}}} is not defined in the notebook: define the variable first, or "
                "write literal braces as {{ and }}."
            ) from None
        except Exception as exc:  # noqa: BLE001 - any failure in user objects is the user's
            raise ConfigError(f"Cannot evaluate {{{name}}}: {type(exc).__name__}: {exc}") from None
        try:
            value = _FORMATTER.convert_field(value, conversion)
            rendered = _FORMATTER.format_field(value, spec or "")
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"Cannot format {{{name}}}: {type(exc).__name__}: {exc}") from None
        if url_encode:
            try:
                rendered = quote(rendered, safe="")
            except UnicodeEncodeError:
                raise ConfigError(
                    f"{{{name}}} contains a lone surrogate (\\ud800-\\udfff), which no URL can "
                    "carry: remove it."
                ) from None
        out.append(rendered)
    return "".join(out)


def _strip_comment(line: str) -> str:
    stripped = line.strip()
    if stripped.startswith("#"):
        return ""
    # A trailing comment needs a space before '#', so values like 'a#b' stay whole.
    return re.split(r"\s#", stripped, maxsplit=1)[0].strip()


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_param(line: str, namespace: Mapping[str, Any], *, where: str = "") -> tuple[str, str]:
    """One ``name: value`` or ``name=value`` parameter."""
    positions = [pos for pos in (line.find(":"), line.find("=")) if pos > 0]
    if not positions:
        raise ConfigError(
            f"{where}expected a query parameter as `name: value` or `name=value`, got "
            f"{line!r}. The path goes on the first line; put JSON bodies in %%reinfer_post."
        )
    cut = min(positions)
    name, value = line[:cut].strip(), line[cut + 1:].strip()
    if not _PARAM_NAME.match(name):
        raise ConfigError(
            f"{where}{name!r} is not a valid parameter name (letters, digits, _ . -)."
        )
    return name, interpolate(_unquote(value), namespace, url_encode=False)


def parse_query_cell(
    cell: str,
    namespace: Mapping[str, Any],
    *,
    line_path: str | None = None,
    line_params: Iterable[str] = (),
    line_offset: int = 0,
) -> CallSpec:
    """Parse a GET/DELETE call from the magic's line (path, ``name=value``) and cell body.

    ``line_offset`` is added to line numbers in messages (1 when the magic's own line
    is the cell's first line).
    """
    path = line_path
    params = [parse_param(item, namespace, where="line: ") for item in line_params]
    for number, raw in enumerate((cell or "").splitlines(), start=1 + line_offset):
        line = _strip_comment(raw)
        if not line:
            continue
        if path is None:
            path = line
            continue
        params.append(parse_param(line, namespace, where=f"cell line {number}: "))
    if path is None:
        raise ConfigError(
            "No path: put the API path on the magic's line or on the first line of the cell, "
            "such as /api/v1/datasets."
        )
    return CallSpec(path=interpolate(path, namespace, url_encode=True), params=params)


def parse_body_cell(
    cell: str,
    namespace: Mapping[str, Any],
    *,
    line_path: str | None = None,
    line_offset: int = 0,
) -> CallSpec:
    """Parse a POST/PUT call: the path line, then a JSON body validated before sending."""
    lines = (cell or "").splitlines()
    path = line_path
    first_body_line = 0
    if path is None:
        for index, raw in enumerate(lines):
            line = _strip_comment(raw)
            if line:
                path, first_body_line = line, index + 1
                break
    if path is None:
        raise ConfigError(
            "No path: put the API path on the first line of the cell and the JSON body below it."
        )
    # Whole-line '#' comments cannot be inside JSON (strings hold no raw newlines):
    # blank them, keeping line numbers for error messages.
    body_lines = [
        "" if raw.strip().startswith("#") else raw for raw in lines[first_body_line:]
    ]
    text = "\n".join(body_lines)
    if not text.strip():
        return CallSpec(path=interpolate(path, namespace, url_encode=True))
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        line_no = line_offset + first_body_line + exc.lineno
        raise ConfigError(
            f"Invalid JSON body at cell line {line_no}, column {exc.colno}: {exc.msg}. "
            "Fix it; nothing was sent."
        ) from None
    except RecursionError:
        raise ConfigError("The JSON body is nested too deeply; nothing was sent.") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"Invalid JSON body: {exc}. Fix it; nothing was sent.") from None
    return CallSpec(path=interpolate(path, namespace, url_encode=True), body=body, has_body=True)


def parse_option_cell(
    cell: str,
    namespace: Mapping[str, Any],
    *,
    flags: Iterable[str] = (),
    line_offset: int = 0,
) -> list[str]:
    """The options of a cell whose lines are options, as an argument list.

    A line ``--name value`` gives the option and the rest of the line as its value (quotes
    around it are removed; ``--name=value`` works too); a line of options in ``flags``
    (options without a value) may hold several, such as ``--predictions --reviewed-only``;
    any other line gives its words (a dataset name). ``#`` comments and ``{var}``
    expansion as in the other cells.
    """
    argv: list[str] = []
    flag_set = frozenset(flags)
    for number, raw in enumerate((cell or "").splitlines(), start=1 + line_offset):
        line = _strip_comment(raw)
        if not line:
            continue
        line = interpolate(line, namespace, url_encode=False)
        words = line.split()
        if all(word in flag_set for word in words):
            argv += words
            continue
        match = _OPTION.match(line)
        if match is None:
            if line.startswith("-"):
                raise ConfigError(
                    f"cell line {number}: {line!r} is not an option: write one option a line, "
                    "such as --label Billing > Refund."
                )
            argv += [_unquote(word) for word in words]
            continue
        name, value = match.group(1), match.group(2).strip()
        argv += [name, _unquote(value)] if value else [name]
    return argv
