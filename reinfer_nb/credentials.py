"""Where the API token comes from, and a token type that never shows itself.

A token comes from an argument, the ``REINFER_TOKEN`` environment variable, a hidden
prompt, or a named context in the contexts file of the official ``re`` command-line tool
(``~/.config/reinfer/contexts.json`` on Linux), so users of both share one set-up.
"""

from __future__ import annotations

import getpass
import hmac
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "TOKEN_ENV_VAR",
    "Context",
    "ContextsFile",
    "Token",
    "contexts_path",
    "load_contexts",
    "resolve_token",
    "save_context",
]

TOKEN_ENV_VAR = "REINFER_TOKEN"
CONTEXTS_ENV_VAR = "REINFER_CONTEXTS_FILE"


class Token:
    """An API token whose ``repr`` and ``str`` show only a masked hint.

    Call :meth:`reveal` for the secret itself (the client does, to build the header).
    """

    __slots__ = ("_secret",)
    _secret: str

    def __init__(self, secret: str | Token) -> None:
        if isinstance(secret, Token):
            secret = secret.reveal()
        if not isinstance(secret, str):
            raise ConfigError(f"A token must be text, not {type(secret).__name__}.")
        secret = secret.strip()
        if secret.lower().startswith("bearer "):
            secret = secret[7:].strip()
        if not secret:
            raise ConfigError(
                f"The token is empty: set {TOKEN_ENV_VAR} or paste the API token from your "
                "account page."
            )
        if any(ch.isspace() or ord(ch) < 32 for ch in secret):
            raise ConfigError("The token contains spaces or control characters: paste it again.")
        object.__setattr__(self, "_secret", secret)

    def reveal(self) -> str:
        """The secret itself. Never print it."""
        return self._secret

    @property
    def hint(self) -> str:
        """A masked hint such as ``…a1b2`` (the last 4 characters of a long token only)."""
        return "…" + self._secret[-4:] if len(self._secret) >= 16 else "…"

    def __repr__(self) -> str:
        return f"Token('{self.hint}')"

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
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ContextsFile(path=file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the contexts file {file}: {exc.__class__.__name__}. "
            "Fix or remove it (it is shared with the `re` tool)."
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("contexts", []), list):
        raise ConfigError(f"The contexts file {file} does not have the `re` tool's shape.")
    contexts = []
    for item in raw.get("contexts", []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        token = item.get("token")
        contexts.append(
            Context(
                name=item["name"],
                endpoint=str(item.get("endpoint") or ""),
                token=Token(token) if isinstance(token, str) and token.strip() else None,
                accept_invalid_certificates=bool(item.get("accept_invalid_certificates", False)),
                proxy=item.get("proxy") if isinstance(item.get("proxy"), str) else None,
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
    try:
        raw: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raw = {"current_context": None, "contexts": []}
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot update the contexts file {file}: {exc}") from None
    entry = {
        "name": name,
        "endpoint": endpoint,
        "token": Token(token).reveal() if token is not None else None,
        "accept_invalid_certificates": False,
        "proxy": None,
    }
    contexts = [c for c in raw.get("contexts", []) if c.get("name") != name]
    existing = [c for c in raw.get("contexts", []) if c.get("name") == name]
    if existing:
        entry = {**existing[0], **{k: v for k, v in entry.items() if k != "token"}}
        if token is not None:
            entry["token"] = Token(token).reveal()
    raw["contexts"] = [*contexts, entry]
    if make_current or (make_current is None and not raw.get("current_context")):
        raw["current_context"] = name
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(raw, handle, indent=2)
    os.replace(tmp, file)
    return file


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
    if token is not None:
        return Token(token)
    env = os.environ if environ is None else environ
    value = env.get(env_var, "").strip()
    if value:
        return Token(value)
    if prompt:
        ask = getpass.getpass if prompt is True else prompt
        try:
            answer = ask("Re:infer API token (input hidden): ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer and answer.strip():
            return Token(answer)
    raise ConfigError(
        f"No API token: set the {env_var} environment variable (or use a named context), "
        "then log in again."
    )
