"""Which tenant and token a login uses, and the check that they work.

One resolution serves ``%reinfer_login`` and plain Python::

    from reinfer_nb.login import resolve_login

    login = resolve_login()              # REINFER_ENDPOINT / REINFER_TOKEN, a context, or
    client, user = login.connect()       # the embedded sandbox when nothing is configured

The endpoint comes from the options (``endpoint``, ``org``/``tenant``, ``domain``,
``context``, ``demo``), else ``$REINFER_ENDPOINT``, else the current context of the contexts
file, else the embedded sandbox (when no token is configured either). The token comes from
the ``token`` option, the chosen context, ``$REINFER_TOKEN`` (or ``token_env``), or a prompt.

The tutorials follow a simpler rule (``tutorial=True``, ``%reinfer_login --tutorial``): the
sandbox unless both ``$REINFER_ENDPOINT`` and ``$REINFER_TOKEN`` are set or a context is
current, so a half-configured machine still runs them; :func:`tutorial_choice` says which
mode that rule picks, and why, without starting anything.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from .credentials import TOKEN_ENV_VAR, Context, Token, load_contexts, resolve_token
from .endpoints import Endpoint, normalise_endpoint
from .errors import ApiError, ConfigError, LoginError, ReinferError

if TYPE_CHECKING:
    from .client import Client
    from .retry import RetryPolicy
    from .sandbox import Sandbox
    from .timing import TimingLog

__all__ = ["ENDPOINT_ENV_VAR", "Login", "resolve_login", "tutorial_choice"]

ENDPOINT_ENV_VAR = "REINFER_ENDPOINT"
_P = ParamSpec("_P")
_T = TypeVar("_T")
Mode = Literal["sandbox", "context", "endpoint"]


@dataclass(frozen=True)
class Login:
    """A resolved login: the endpoint, the token, and how they were chosen.

    ``mode`` is ``sandbox`` (the embedded sandbox, held in ``sandbox``), ``context`` (a
    named context of the contexts file, in ``context``) or ``endpoint`` (an explicit URL or
    ``$REINFER_ENDPOINT``). ``why`` says in words why this mode was chosen.
    """

    endpoint: Endpoint
    token: Token
    mode: Mode
    why: str
    context: Context | None = None
    sandbox: Sandbox | None = None
    token_env: str = TOKEN_ENV_VAR

    @property
    def context_name(self) -> str | None:
        return self.context.name if self.context is not None else None

    @property
    def is_sandbox(self) -> bool:
        return self.mode == "sandbox"

    def mode_line(self) -> str:
        """Which mode this login is in, and why, as one sentence (the tutorials print it)."""
        if self.mode == "sandbox":
            where = "the EMBEDDED SANDBOX (sample data on this machine, not a real tenant)"
        elif self.context is not None:
            where = f"a REAL TENANT: {self.endpoint.root} (context {self.context.name})"
        else:
            where = f"a REAL TENANT: {self.endpoint.root}"
        return f"Using {where}, because {self.why}."

    def client(
        self,
        *,
        timing_log: TimingLog | None = None,
        policy: RetryPolicy | None = None,
        max_answer_mb: float | None = None,
    ) -> Client:
        """A :class:`~reinfer_nb.client.Client` for this login (a context's proxy and
        certificate settings included); nothing is sent."""
        from .client import DEFAULT_MAX_ANSWER_MB, Client

        context = self.context
        return Client(
            self.endpoint,
            self.token,
            policy=policy,
            timing_log=timing_log,
            max_answer_mb=max_answer_mb if max_answer_mb is not None else DEFAULT_MAX_ANSWER_MB,
            verify=not (context is not None and context.accept_invalid_certificates),
            proxy=context.proxy if context is not None else None,
        )

    def connect(
        self,
        *,
        check: bool = True,
        timing_log: TimingLog | None = None,
        policy: RetryPolicy | None = None,
        max_answer_mb: float | None = None,
    ) -> tuple[Client, dict[str, Any]]:
        """A client for this login and, if ``check``, the current user (``GET /auth/user``).

        A failed check closes the client and raises :class:`LoginError` saying what to do.
        """
        client = self.client(timing_log=timing_log, policy=policy, max_answer_mb=max_answer_mb)
        if not check:
            return client, {}
        try:
            return client, client.whoami()
        except ReinferError as err:
            client.close()
            raise LoginError(_login_failure(err, self), err) from err


def _no_secrets_in_tracebacks(func: Callable[_P, _T]) -> Callable[_P, _T]:
    """Re-raise ``func``'s ConfigError without the frames below this one.

    Those frames hold the raw token and the environment (whose repr shows $REINFER_TOKEN):
    a traceback that lists local variables (%xmode Verbose) must find neither.
    """

    @functools.wraps(func)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return func(*args, **kwargs)
        except ConfigError as err:
            refused = err
        del args, kwargs
        raise refused.with_traceback(None)

    return call


@_no_secrets_in_tracebacks
def resolve_login(
    *,
    endpoint: str | None = None,
    org: str | None = None,
    tenant: str | None = None,
    domain: str | None = None,
    context: str | None = None,
    contexts_file: str | os.PathLike[str] | None = None,
    demo: bool = False,
    token: str | Token | None = None,
    token_env: str = TOKEN_ENV_VAR,
    prompt: bool | Callable[[str], str] = False,
    environ: Mapping[str, str] | None = None,
    sandbox: Callable[[], Sandbox] | None = None,
    tutorial: bool = False,
) -> Login:
    """Choose the endpoint and token of a login (see the module docstring for the order).

    ``sandbox`` returns the embedded sandbox when one is needed (default: start one with
    1,000 comments; the caller owns it: ``login.sandbox.stop()``). ``prompt`` is True for a
    hidden ``getpass`` prompt, or a callable that asks for a secret. ``tutorial`` applies
    the tutorials' rule (:func:`tutorial_choice`) when no option names the endpoint.
    Raises :class:`ConfigError` for conflicting options or when no token can be found.
    """
    env = os.environ if environ is None else environ
    chosen = [
        name
        for name, given in (
            ("--endpoint", endpoint), ("--org/--tenant", org or tenant), ("--domain", domain),
            ("--context", context), ("--demo", demo),
        )
        if given
    ]
    if len(chosen) > 1:
        raise ConfigError(f"Choose one of {', '.join(chosen)}, not several.")
    if demo:
        return _sandbox_login(sandbox, "--demo asks for the embedded sandbox")
    if not chosen and tutorial:
        rule, because = tutorial_choice(
            token=token, token_env=token_env, contexts_file=contexts_file, environ=env
        )
        if rule == "sandbox":
            return _sandbox_login(sandbox, because)
        # The rule's own choice: a current context wins over a lone $REINFER_ENDPOINT.
        current = load_contexts(contexts_file).current_context if rule == "context" else None
        login = resolve_login(
            context=current, contexts_file=contexts_file, token=token, token_env=token_env,
            prompt=prompt, environ=env, sandbox=sandbox,
        )
        return dataclasses.replace(login, why=because)
    if not chosen:
        why = _why_sandbox(env, token, token_env, contexts_file)
        if why is not None:
            return _sandbox_login(sandbox, why)
    named: Context | None = None
    mode: Mode = "endpoint"
    if context:
        named = load_contexts(contexts_file).get(context)
        why = f"--context {context}"
    elif org or tenant:
        if not (org and tenant):
            raise ConfigError("--org and --tenant go together: give both.")
        url, why = Endpoint.uipath(org, tenant), "--org/--tenant"
    elif domain:
        url, why = Endpoint.reinfer_io(domain), "--domain"
    elif endpoint:
        url, why = normalise_endpoint(endpoint), "--endpoint"
    elif env.get(ENDPOINT_ENV_VAR):
        url, why = normalise_endpoint(env[ENDPOINT_ENV_VAR]), f"${ENDPOINT_ENV_VAR} is set"
    else:
        contexts = load_contexts(contexts_file)
        if contexts.current_context is None:
            raise ConfigError(
                f"{token_env} is set but no endpoint is: set {ENDPOINT_ENV_VAR}, or pass "
                "--endpoint URL, --org/--tenant, --domain or --context (--demo for the sandbox)."
            )
        named = contexts.get(None)
        why = f"{named.name} is the current context of {contexts.path}"
    if named is not None:
        url, mode = normalise_endpoint(named.endpoint), "context"
    secret = resolve_token(
        token if token is not None else (named.token if named is not None else None),
        env_var=token_env,
        prompt=prompt,
        environ=dict(env),
    )
    return Login(url, secret, mode, why, context=named, token_env=token_env)


def tutorial_choice(
    *,
    token: str | Token | None = None,
    token_env: str = TOKEN_ENV_VAR,
    contexts_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Mode, str]:
    """The tutorials' rule: which mode they use and why (nothing is started or sent).

    ``endpoint`` when both ``$REINFER_ENDPOINT`` and the token (``$REINFER_TOKEN``, or
    ``token``) are set; else ``context`` when the contexts file has a current context; else
    ``sandbox``, with a reason that names what is missing.
    """
    env = os.environ if environ is None else environ
    has_endpoint = bool(env.get(ENDPOINT_ENV_VAR))
    has_token = token is not None or bool(env.get(token_env))
    if has_endpoint and has_token:
        return "endpoint", f"{ENDPOINT_ENV_VAR} and {token_env} are set"
    try:
        contexts = load_contexts(contexts_file)
        current = contexts.current_context
    except ConfigError:
        current = None  # an unreadable contexts file configures nothing
    else:
        if current is not None:
            return "context", f"{current} is the current context of {contexts.path}"
    if has_endpoint:
        missing = f"{ENDPOINT_ENV_VAR} is set but {token_env} is not"
    elif has_token:
        missing = f"{token_env} is set but {ENDPOINT_ENV_VAR} is not"
    else:
        missing = f"neither {ENDPOINT_ENV_VAR} nor {token_env} is set"
    return "sandbox", (
        f"{missing} and no context is current; set both, or make a context current, to use "
        "your tenant"
    )


def _why_sandbox(
    env: Mapping[str, str],
    token: str | Token | None,
    token_env: str,
    contexts_file: str | os.PathLike[str] | None,
) -> str | None:
    """Why the embedded sandbox is the default, or None when something else is configured."""
    if env.get(ENDPOINT_ENV_VAR) or token is not None or env.get(token_env):
        return None
    try:
        if load_contexts(contexts_file).current_context is not None:
            return None
    except ConfigError:
        pass  # an unreadable contexts file configures nothing
    return f"neither {ENDPOINT_ENV_VAR} nor {token_env} is set and no context is current"


def _sandbox_login(factory: Callable[[], Sandbox] | None, why: str) -> Login:
    if factory is None:
        from .sandbox import start_sandbox

        running = start_sandbox()
    else:
        running = factory()
    return Login(
        normalise_endpoint(running.url), Token(running.token), "sandbox", why, sandbox=running
    )


def _login_failure(err: ReinferError, login: Login) -> str:
    """What a failed login check means, and what to do about it."""
    root = login.endpoint.root
    if isinstance(err, ApiError) and err.http_status in (401, 403):
        name = login.context_name
        fix = (
            f"update the token of context {name!r} (`re config add --name {name}`)"
            if name
            else f"set {login.token_env}"
        )
        return (
            f"The token was refused by {root} (HTTP {err.http_status}): regenerate it on your "
            f"account page, {fix}, and run %reinfer_login again."
        )
    if isinstance(err, ApiError) and err.http_status == 404:
        return (
            f"{root}/auth/user was not found (HTTP 404): the endpoint is probably not the "
            "tenant root; use https://<domain>.reinfer.io or "
            "https://cloud.uipath.com/<org>/<tenant>/reinfer_."
        )
    return f"Login check failed: {err.message}"
