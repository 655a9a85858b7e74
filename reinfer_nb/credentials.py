"""Where the API token comes from, and a token type that never shows itself.

A token comes from an argument, the ``REINFER_TOKEN`` environment variable, a hidden
prompt, or a named context in the contexts file of the official ``re`` command-line tool
(``~/.config/reinfer/contexts.json`` on Linux), so users of both share one set-up.
"""

from __future__ import annotations

import contextlib
import getpass
import hmac
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError

__all__ = [
    "TOKEN_ENV_VAR",
    "Context",
    "ContextsFile",
    "MaskedURL",
    "Token",
    "contexts_path",
    "load_contexts",
    "mask_token",
    "resolve_token",
    "save_context",
    "token_or_error",
]

TOKEN_ENV_VAR = "REINFER_TOKEN"
CONTEXTS_ENV_VAR = "REINFER_CONTEXTS_FILE"


def mask_token(secret: str) -> str:
    """The one masked form of a secret, wherever the package shows one: ``…`` and, for a
    secret of 16 characters or more, its last 4 (``…a1b2``), so it can be recognised."""
    return "…" + secret[-4:] if len(secret) >= 16 else "…"


def _checked_secret(secret: object) -> tuple[str, str | None]:
    """The token text without a ``Bearer`` prefix, and why it cannot be used (or None).

    Never raises and never puts the secret in a message.
    """
    if isinstance(secret, Token):
        return secret.reveal(), None
    if not isinstance(secret, str):
        return "", f"A token must be text, not {type(secret).__name__}."
    value = secret.strip()
    if value.lower().startswith("bearer "):
        value = value[7:].strip()
    if not value:
        return "", (
            f"The token is empty: set {TOKEN_ENV_VAR} or paste the API token from your "
            "account page."
        )
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "", "The token contains spaces or control characters: paste it again."
    if not (value.isascii() and value.isprintable()):
        # An HTTP header carries ASCII; a paste can bring a typographic dash (U+2013) or
        # an invisible character (U+200B) along.
        return "", (
            "The token contains a character that cannot be sent: check the paste (a "
            "typographic dash or an invisible character may have come with it)."
        )
    return value, None


def token_or_error(value: str | Token) -> Token | ConfigError:
    """``value`` as a :class:`Token`, or the :class:`ConfigError` saying why it is not one.

    For callers that hold the raw secret in a variable: they delete it before raising the
    error, so that a traceback showing local variables (``%xmode Verbose``) cannot find it.
    """
    checked, problem = _checked_secret(value)
    del value
    if problem is not None:
        return ConfigError(problem)
    return Token(checked)


class MaskedURL(str):
    """A URL (a proxy's) used as it is, whose ``repr`` hides the password in it.

    Debuggers, ``vars()`` and verbose tracebacks show values with ``repr``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        parts = urlsplit(self)
        if parts.password is None:
            return super().__repr__()
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{user}:{mask_token(parts.password)}@{host}"
        return repr(urlunsplit(parts._replace(netloc=netloc)))


class Token:
    """An API token whose ``repr`` and ``str`` show only a masked hint.

    Call :meth:`reveal` for the secret itself (the client does, to build the header).
    """

    __slots__ = ("_secret",)
    _secret: str

    def __init__(self, secret: str | Token) -> None:
        value, problem = _checked_secret(secret)
        # Tracebacks that show local variables (%xmode Verbose) must not find the secret.
        del secret
        if problem is not None:
            del value
            raise ConfigError(problem)
        object.__setattr__(self, "_secret", value)

    def reveal(self) -> str:
        """The secret itself. Never print it."""
        return self._secret

    @property
    def hint(self) -> str:
        """A masked hint such as ``…a1b2`` (see :func:`mask_token`)."""
        return mask_token(self._secret)

    def __repr__(self) -> str:
        # A traceback of a refused __init__ that lists local variables shows it half-built.
        return f"Token('{self.hint}')" if hasattr(self, "_secret") else "Token(<refused>)"

    def __str__(self) -> str:
        return self.hint

    def __format__(self, spec: str) -> str:
        return format(self.hint, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Token):
            return NotImplemented
        return hmac.compare_digest(self._secret.encode(), other._secret.encode())

    def __hash__(self) -> int:
        return hash(("Token", self._secret))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Token is immutable")

    def __copy__(self) -> Token:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Token:
        return self

    def __reduce__(self) -> Any:
        # Pickling would write the secret to disk (%store, caches): refuse.
        raise TypeError("Token objects cannot be pickled, so that the secret is not saved.")


@dataclass(frozen=True)
class Context:
    """A named endpoint and token, as the ``re`` tool's ``re config add`` stores it."""

    name: str
    endpoint: str
    token: Token | None = field(default=None)
    accept_invalid_certificates: bool = False
    proxy: str | None = None


@dataclass(frozen=True)
class ContextsFile:
    """The parsed contexts file."""

    path: Path
    contexts: tuple[Context, ...] = ()
    current_context: str | None = None
    context_is_required: bool = True

    def names(self) -> list[str]:
        return [ctx.name for ctx in self.contexts]

    def get(self, name: str | None = None) -> Context:
        """The context called ``name``, else the current one."""
        wanted = name or self.current_context
        if not wanted:
            raise ConfigError(
                f"No context named and no current context in {self.path}: pass a context "
                f"name (known: {', '.join(self.names()) or 'none'})."
            )
        for ctx in self.contexts:
            if ctx.name == wanted:
                return ctx
        raise ConfigError(
            f"No context {wanted!r} in {self.path} (known: {', '.join(self.names()) or 'none'}). "
            "Add it with `re config add` or reinfer_nb.credentials.save_context()."
        )


def contexts_path() -> Path:
    """Where the ``re`` tool keeps its contexts (``$REINFER_CONTEXTS_FILE`` overrides)."""
    override = os.environ.get(CONTEXTS_ENV_VAR)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "reinfer" / "contexts.json"


def load_contexts(path: str | os.PathLike[str] | None = None) -> ContextsFile:
    """Read the contexts file; a missing file gives an empty set of contexts."""
    file = Path(path).expanduser() if path is not None else contexts_path()
    loaded = _read_contexts(file)
    if isinstance(loaded, ConfigError):  # raised here, where no local holds a token
        raise loaded
    return loaded


def _read_contexts(file: Path) -> ContextsFile | ConfigError:
    """The parsed contexts file, or the error to raise (never raises itself)."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ContextsFile(path=file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ConfigError(
            f"Cannot read the contexts file {file}: {exc.__class__.__name__}. "
            "Fix or remove it (it is shared with the `re` tool)."
        )
    if not isinstance(raw, dict) or not isinstance(raw.get("contexts", []), list):
        return ConfigError(f"The contexts file {file} does not have the `re` tool's shape.")
    contexts = []
    for item in raw.get("contexts", []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        value = item.get("token")
        token = token_or_error(value) if isinstance(value, str) and value.strip() else None
        if isinstance(token, ConfigError):
            return ConfigError(f"Context {item['name']!r} in {file}: {token.message}")
        proxy = item.get("proxy")
        contexts.append(
            Context(
                name=item["name"],
                endpoint=str(item.get("endpoint") or ""),
                token=token,
                accept_invalid_certificates=bool(item.get("accept_invalid_certificates", False)),
                proxy=MaskedURL(proxy) if isinstance(proxy, str) else None,
            )
        )
    current = raw.get("current_context")
    return ContextsFile(
        path=file,
        contexts=tuple(contexts),
        current_context=current if isinstance(current, str) else None,
        context_is_required=bool(raw.get("context_is_required", True)),
    )


def save_context(
    name: str,
    endpoint: str,
    token: str | Token | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    make_current: bool | None = None,
) -> Path:
    """Add or update a context in the contexts file, as ``re config add`` does.

    Like the ``re`` tool, the file stores the token in clear text: it is written with
    owner-only permissions. The first context added becomes the current one.
    """
    file = Path(path).expanduser() if path is not None else contexts_path()
    secret = token_or_error(token) if token is not None else None
    del token  # no raw secret in this frame's locals from here on
    if isinstance(secret, ConfigError):
        raise secret
    problem = _update_contexts(file, name, endpoint, secret, make_current)
    if problem is not None:
        raise ConfigError(problem)
    return file


def _update_contexts(
    file: Path, name: str, endpoint: str, token: Token | None, make_current: bool | None
) -> str | None:
    """Add or update the context in ``file``; what went wrong (never raises for I/O)."""
    try:
        raw: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raw = {"current_context": None, "contexts": []}
    except (OSError, json.JSONDecodeError) as exc:
        return f"Cannot update the contexts file {file}: {exc}"
    entry = {
        "name": name,
        "endpoint": endpoint,
        "token": token.reveal() if token is not None else None,
        "accept_invalid_certificates": False,
        "proxy": None,
    }
    contexts = [c for c in raw.get("contexts", []) if c.get("name") != name]
    existing = [c for c in raw.get("contexts", []) if c.get("name") == name]
    if existing:
        entry = {**existing[0], **{k: v for k, v in entry.items() if k != "token"}}
        if token is not None:
            entry["token"] = token.reveal()
    raw["contexts"] = [*contexts, entry]
    if make_current or (make_current is None and not raw.get("current_context")):
        raw["current_context"] = name
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        _write_private(file, raw)
    except OSError as exc:
        return f"Cannot write the contexts file {file}: {exc.strerror or exc}."
    return None


def _write_private(file: Path, data: Any) -> None:
    """Replace ``file`` with ``data`` as JSON, readable by its owner only.

    The text goes to a fresh temporary file in the same directory (``mkstemp`` creates it
    0600 and exclusively, so a stale or planted temporary file cannot widen the mode or
    redirect the write), then :func:`os.replace` swaps it in at once.
    """
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def resolve_token(
    token: str | Token | None = None,
    *,
    env_var: str = TOKEN_ENV_VAR,
    prompt: bool | Callable[[str], str] = False,
    environ: dict[str, str] | None = None,
) -> Token:
    """The token from the argument, else ``$REINFER_TOKEN`` (or ``env_var``), else a prompt.

    ``prompt`` may be True (a hidden ``getpass`` prompt) or a callable that asks for a
    secret. Raises :class:`ConfigError` when there is no token anywhere.
    """
    found = _find_token(token, env_var, prompt, os.environ if environ is None else environ)
    del token, environ  # no secret in this frame's locals when an error is raised
    if isinstance(found, ConfigError):
        raise found
    return found


def _find_token(
    token: str | Token | None,
    env_var: str,
    prompt: bool | Callable[[str], str],
    env: Mapping[str, str],
) -> Token | ConfigError:
    """The token, or the error to raise (built here, raised by a frame without secrets)."""
    if token is not None:
        return token_or_error(token)
    if env.get(env_var, "").strip():
        return token_or_error(env[env_var])
    if prompt:
        ask = getpass.getpass if prompt is True else prompt
        try:
            answer = ask("Re:infer API token (input hidden): ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer and answer.strip():
            return token_or_error(answer)
    return ConfigError(
        f"No API token: set the {env_var} environment variable (or use a named context), "
        "then log in again."
    )
