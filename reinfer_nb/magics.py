"""IPython magics: ``%reinfer_login``, ``%%reinfer_get`` and friends, ``%reinfer_timing``.

A thin layer over :class:`~reinfer_nb.client.Client`: it parses options and cells, calls
the client, and renders answers and errors as DataFrames. State lives on the
:class:`ReinferMagics` instance; ``%config ReinferMagics.<option>`` changes its settings.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Float, Integer, Unicode, observe

from .cells import CallSpec, parse_body_cell, parse_query_cell
from .client import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Client, Result
from .credentials import TOKEN_ENV_VAR, Context, Token, load_contexts, resolve_token
from .endpoints import Endpoint, normalise_endpoint
from .errors import ApiError, ConfigError, ReinferError
from .timing import TimingLog

if TYPE_CHECKING:
    import pandas as pd

    from .sandbox import Sandbox
    from .widgets import TimingWidget

__all__ = ["ReinferMagics", "get_client", "get_sandbox", "load_extension", "unload_extension"]

ENDPOINT_ENV_VAR = "REINFER_ENDPOINT"


@magics_class
class ReinferMagics(Magics):
    """Magics for the Re:infer / Communications Mining API (``%load_ext reinfer_nb``)."""

    timeout = Float(DEFAULT_TIMEOUT, help="Seconds per attempt (connect and read).").tag(
        config=True
    )
    retries = Integer(
        DEFAULT_RETRIES, help="Retries of idempotent calls on 5xx, 429 and connection failures."
    ).tag(config=True)
    fail_on_error = Bool(
        True,
        help="Fail the cell after showing the error frame (so Run All stops). "
        "False shows the error frame and goes on.",
    ).tag(config=True)
    display_limit = Integer(
        50, help="Rows shown when a magic's DataFrame is displayed (0: pandas' own setting)."
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar while --all pages through.").tag(config=True)
    sandbox_comments = Integer(
        5000, help="Comments in the embedded sandbox started by --demo."
    ).tag(config=True)
    token_env = Unicode(TOKEN_ENV_VAR, help="Environment variable holding the token.").tag(
        config=True
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # Set before Magics.__init__, which applies %config settings and so fires observers.
        self.client: Client | None = None
        self.context_name: str | None = None
        self.timing_log = TimingLog()
        self.sandbox: Sandbox | None = None
        self._widgets: list[TimingWidget] = []
        self._saved_display: dict[str, Any] | None = None
        super().__init__(shell=shell, **kwargs)

    @property
    def _user_ns(self) -> dict[str, Any]:
        """The notebook's namespace (the magics always run inside a shell)."""
        assert self.shell is not None, "ReinferMagics runs inside an IPython shell"
        return self.shell.user_ns  # type: ignore[no-any-return]

    # -- settings ---------------------------------------------------------------------

    @observe("timeout", "retries")
    def _apply_client_settings(self, change: Any) -> None:
        if self.client is not None:
            setattr(self.client, change["name"], change["new"])

    # -- login ------------------------------------------------------------------------

    @magic_arguments()
    @argument("--endpoint", "-e", help="Tenant URL, e.g. https://acme.reinfer.io or "
              "https://cloud.uipath.com/ORG/TENANT/reinfer_ (with or without /api).")
    @argument("--org", help="UiPath organisation (with --tenant).")
    @argument("--tenant", help="UiPath tenant (with --org).")
    @argument("--domain", help="Re:infer domain: https://DOMAIN.reinfer.io.")
    @argument("--context", "-c", help="Named context from the `re` tool's contexts file.")
    @argument("--contexts-file", help="Contexts file (default ~/.config/reinfer/contexts.json).")
    @argument("--demo", action="store_true",
              help="Start the embedded sandbox (no account, no network) and log in to it.")
    @argument("--token-env", help=f"Environment variable with the token (default {TOKEN_ENV_VAR}).")
    @argument("--token", help="The token itself. Discouraged: it is saved in the notebook.")
    @argument("--no-check", action="store_true", help="Skip the check call (GET /auth/user).")
    @argument("--no-prompt", action="store_true", help="Never prompt for the token.")
    @argument("-o", "--output", metavar="NAME", help="Store the Client in this variable.")
    @no_var_expand
    @line_magic
    def reinfer_login(self, line: str = "") -> None:
        """Log in: choose the endpoint and token, and check them with one cheap call.

        The endpoint comes from --endpoint, --org/--tenant, --domain, --context, or the
        REINFER_ENDPOINT variable; with none of them (and no token in REINFER_TOKEN) the
        embedded sandbox is used. The token comes from REINFER_TOKEN (or --token-env
        VAR), the context, or a hidden prompt. It is never shown: only a masked hint.

        Examples::

            %reinfer_login --demo
            %reinfer_login --endpoint https://acme.reinfer.io
            %reinfer_login --org my-org --tenant my-tenant
            %reinfer_login --context prod
            %reinfer_login --domain acme --token-env ACME_TOKEN --no-check
        """
        args = parse_argstring(self.reinfer_login, line)
        if args.token:
            warnings.warn(
                "A token typed in a cell is saved in the notebook and its history: prefer "
                f"the {TOKEN_ENV_VAR} environment variable or a named context.",
                UserWarning,
                stacklevel=2,
            )
        endpoint, token, label = self._choose_login(args)
        env_var = args.token_env or self.token_env
        client = Client(
            endpoint, token, timeout=self.timeout, retries=self.retries,
            timing_log=self.timing_log,
        )
        user: dict[str, Any] = {}
        if not args.no_check:
            try:
                user = client.whoami()
            except ReinferError as err:
                client.close()
                raise _login_error(err, client.endpoint, label, env_var) from None
        if self.client is not None:
            self.client.close()
        self.client, self.context_name = client, label
        if args.output:
            self._user_ns[args.output] = client
        who = user.get("username") or user.get("email") or "(not checked)"
        where = " [embedded sandbox: sample data, not a real tenant]" if label == "sandbox" else (
            f" [context {label}]" if label else ""
        )
        print(f"Logged in to {client.endpoint.root} as {who}, token {client.token.hint}{where}")

    def _choose_login(self, args: Any) -> tuple[Endpoint, Token, str | None]:
        """The endpoint, token and a label (context name or "sandbox") for a login."""
        env_var = args.token_env or self.token_env
        chosen = [
            name for name, given in (
                ("--endpoint", args.endpoint), ("--org/--tenant", args.org or args.tenant),
                ("--domain", args.domain), ("--context", args.context), ("--demo", args.demo),
            ) if given
        ]
        if len(chosen) > 1:
            raise ConfigError(f"Choose one of {', '.join(chosen)}, not several.")
        if args.demo or (not chosen and self._defaults_to_sandbox(env_var, args)):
            sandbox = self._ensure_sandbox()
            return normalise_endpoint(sandbox.url), Token(sandbox.token), "sandbox"
        label = None
        context_token: Token | None = None
        if args.context:
            context = load_contexts(args.contexts_file).get(args.context)
            endpoint, context_token, label = _context_login(context)
        elif args.org or args.tenant:
            if not (args.org and args.tenant):
                raise ConfigError("--org and --tenant go together: give both.")
            endpoint = Endpoint.uipath(args.org, args.tenant)
        elif args.domain:
            endpoint = Endpoint.reinfer_io(args.domain)
        elif args.endpoint:
            endpoint = normalise_endpoint(args.endpoint)
        elif os.environ.get(ENDPOINT_ENV_VAR):
            endpoint = normalise_endpoint(os.environ[ENDPOINT_ENV_VAR])
        else:
            contexts = load_contexts(args.contexts_file)
            if contexts.current_context is None:
                raise ConfigError(
                    f"{env_var} is set but no endpoint is: set {ENDPOINT_ENV_VAR}, or pass "
                    "--endpoint URL, --org/--tenant, --domain or --context "
                    "(--demo for the sandbox)."
                )
            context = contexts.get(None)
            endpoint, context_token, label = _context_login(context)
        token = resolve_token(
            args.token or context_token,
            env_var=env_var,
            prompt=False if args.no_prompt or not self._can_prompt() else True,
        )
        return endpoint, token, label

    def _defaults_to_sandbox(self, env_var: str, args: Any) -> bool:
        """No endpoint anywhere: the embedded sandbox is the default."""
        if os.environ.get(ENDPOINT_ENV_VAR) or args.token:
            return False
        if os.environ.get(env_var):
            return False
        try:
            return load_contexts(args.contexts_file).current_context is None
        except ConfigError:
            return True

    def _can_prompt(self) -> bool:
        kernel = getattr(self.shell, "kernel", None)
        if kernel is not None:
            return bool(getattr(kernel, "_allow_stdin", False))
        return bool(sys.stdin and sys.stdin.isatty())

    def _ensure_sandbox(self) -> Sandbox:
        if self.sandbox is None:
            from .sandbox import start_sandbox

            self.sandbox = start_sandbox(comments=self.sandbox_comments)
        return self.sandbox

    @line_magic
    def reinfer_logout(self, line: str = "") -> None:
        """Forget the token and close the connections (the timing log is kept)."""
        if self.client is not None:
            self.client.close()
        self.client = None
        self.context_name = None
        print("Logged out: the token is forgotten.")

    # -- calls ------------------------------------------------------------------------

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME", help="Store the result in this variable.")
    @argument("--all", action="store_true", help="Follow `continuation` through every page.")
    @argument("--limit", type=int, metavar="N", help="At most N rows (stops paging there).")
    @argument("--max-pages", type=int, metavar="N", help="At most N pages (implies --all).")
    @argument("--raw", action="store_true", help="Return the parsed JSON, not a DataFrame.")
    @argument("path", nargs="?", help="API path (line form), e.g. /api/v1/datasets.")
    @argument("params", nargs="*", help="Query parameters as name=value (line form).")
    @no_var_expand
    @line_cell_magic
    def reinfer_get(self, line: str = "", cell: str | None = None) -> Any:
        """GET an API path and return the answer as a DataFrame.

        The first line takes options; in the cell, the first non-blank line is the path
        and each further line a query parameter (`name: value` or `name=value`); `#`
        starts a comment and `{var}` expands from the notebook (URL-encoded in the path).
        An error shows a one-row error frame and fails the cell with one line.

        Examples::

            %reinfer_get /api/v1/datasets

            %%reinfer_get -o comments --all --limit 1000
            /api/_private/sources/{project}/support-emails/comments
            limit: 256
            from_timestamp: 2025-01-01T00:00:00Z   # ISO 8601
        """
        return self._query_call("GET", self.reinfer_get, line, cell)

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME", help="Store the result in this variable.")
    @argument("--raw", action="store_true", help="Return the parsed JSON, not a DataFrame.")
    @argument("path", nargs="?", help="API path (line form).")
    @argument("params", nargs="*", help="Query parameters as name=value (line form).")
    @no_var_expand
    @line_cell_magic
    def reinfer_delete(self, line: str = "", cell: str | None = None) -> Any:
        """DELETE an API path; query parameters as in %%reinfer_get.

        Example (the API deletes comments by id)::

            %%reinfer_delete
            /api/v1/sources/dev/support-emails/comments
            id: 0123456789abcdef
            id: fedcba9876543210
        """
        return self._query_call("DELETE", self.reinfer_delete, line, cell)

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME", help="Store the result in this variable.")
    @argument("--raw", action="store_true", help="Return the parsed JSON, not a DataFrame.")
    @argument("-b", "--body", metavar="VAR", help="Take the JSON body from this variable.")
    @argument("--all", action="store_true",
              help="Follow `continuation` in the body through every page (queries).")
    @argument("--limit", type=int, metavar="N", help="At most N rows (stops paging there).")
    @argument("--max-pages", type=int, metavar="N", help="At most N pages (implies --all).")
    @argument("path", nargs="?", help="API path (line form).")
    @no_var_expand
    @line_cell_magic
    def reinfer_post(self, line: str = "", cell: str | None = None) -> Any:
        """POST a JSON body: the path on the first line of the cell, the JSON below it.

        The JSON is validated before anything is sent (an error names the line).

        Example::

            %%reinfer_post -o results --all --limit 500
            /api/_private/datasets/dev/support-triage/query
            {"order": {"kind": "recent"}, "limit": 100}
        """
        return self._body_call("POST", self.reinfer_post, line, cell)

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME", help="Store the result in this variable.")
    @argument("--raw", action="store_true", help="Return the parsed JSON, not a DataFrame.")
    @argument("-b", "--body", metavar="VAR", help="Take the JSON body from this variable.")
    @argument("path", nargs="?", help="API path (line form).")
    @no_var_expand
    @line_cell_magic
    def reinfer_put(self, line: str = "", cell: str | None = None) -> Any:
        """PUT a JSON body (creates a resource): the path line, then the JSON.

        Example::

            %%reinfer_put
            /api/v1/sources/dev/new-source
            {"source": {"title": "New source", "language": "en"}}
        """
        return self._body_call("PUT", self.reinfer_put, line, cell)

    def _query_call(self, method: str, magic: Any, line: str, cell: str | None) -> Any:
        args = parse_argstring(magic, line)
        spec = parse_query_cell(
            cell or "", self._user_ns, line_path=args.path, line_params=args.params,
            line_offset=1,
        )
        return self._run(method, spec, args)

    def _body_call(self, method: str, magic: Any, line: str, cell: str | None) -> Any:
        args = parse_argstring(magic, line)
        ns = self._user_ns
        if args.body is not None:
            if args.body not in ns:
                raise ConfigError(f"-b {args.body}: no such variable in the notebook.")
            spec = parse_query_cell(cell or "", ns, line_path=args.path, line_offset=1)
            spec = CallSpec(spec.path, spec.params, ns[args.body], has_body=True)
        else:
            spec = parse_body_cell(cell or "", ns, line_path=args.path, line_offset=1)
        return self._run(method, spec, args)

    def _run(self, method: str, spec: CallSpec, args: Any) -> Any:
        client = self._require_client()
        paginate = getattr(args, "all", False) or getattr(args, "max_pages", None) is not None
        limit = getattr(args, "limit", None)
        params = _group_params(spec.params)
        body = spec.body if spec.has_body else ({} if method in ("POST", "PUT") else None)
        if paginate:
            from .frames import paused_gc

            with paused_gc():  # a bulk pull decodes millions of small objects
                return self._run_pages(client, method, spec.path, params, body, args)
        try:
            result = client.request(method, spec.path, params=params, json=body)
        except ConfigError:
            raise  # bad input: one line, no error frame
        except ReinferError as err:
            return self._fail(err, args)
        if args.raw:
            return self._deliver(result.data, args)
        from .frames import to_frame

        return self._deliver(to_frame(result, max_items=limit), args)

    def _run_pages(
        self, client: Client, method: str, path: str, params: Any, body: Any, args: Any
    ) -> Any:
        from .frames import error_frame, pages_to_frame

        pages: list[Result] = []
        rows = 0
        bar = self._progress_bar(f"{method} {path}", args.limit)
        failure: ReinferError | None = None
        try:
            for page in client.paginate(
                method, path, params=params, json=body, max_pages=args.max_pages,
                max_items=args.limit,
            ):
                pages.append(page)
                before, rows = rows, rows + len(_records(page))
                if bar is not None:
                    bar.update(min(rows, args.limit or rows) - min(before, args.limit or before))
        except ConfigError:
            raise
        except ReinferError as err:
            failure = err
        except KeyboardInterrupt:
            # The stop button: keep what was fetched, then let the interrupt through.
            if args.output:
                stopped = ReinferError(
                    f"Interrupted at page {len(pages) + 1}.", method=method, path=path
                )
                stopped.page = len(pages) + 1
                kept = pages_to_frame(pages, max_items=args.limit, error=stopped)
                self._user_ns[args.output] = kept
                print(f"Interrupted: the {len(kept)} rows fetched are in `{args.output}`.",
                      file=sys.stderr)
            raise
        finally:
            if bar is not None:
                bar.close()
        if failure is None:
            if args.raw:
                return self._deliver([page.data for page in pages], args)
            return self._deliver(pages_to_frame(pages, max_items=args.limit), args)
        kept = pages_to_frame(pages, max_items=args.limit, error=failure)
        failure.message = (
            f"Stopped at page {failure.page or len(pages) + 1} after {len(kept)} rows: "
            f"{failure.message}"
            + (f" The {len(kept)} rows fetched are in `{args.output}`." if args.output else "")
        )
        failure.args = (failure.message,)
        if args.output:
            self._user_ns[args.output] = kept
        self._show_error_frame(error_frame(failure))
        if self.fail_on_error:
            raise failure
        self._scope_display_options()
        return kept

    def _fail(self, err: ReinferError, args: Any) -> Any:
        """Show the error frame, store it, then fail the cell (unless configured not to)."""
        from .frames import error_frame

        frame = error_frame(err)
        if args.output:
            self._user_ns[args.output] = frame
        if not self.fail_on_error:
            self._scope_display_options(wide=True)
            return frame
        self._show_error_frame(frame)
        raise err

    def _show_error_frame(self, frame: pd.DataFrame) -> None:
        import pandas as pd

        with pd.option_context("display.max_colwidth", None, "display.max_columns", None):
            display(frame)

    def _deliver(self, value: Any, args: Any) -> Any:
        if args.output:
            self._user_ns[args.output] = value
        self._scope_display_options()
        return value

    def _require_client(self) -> Client:
        if self.client is None:
            raise ConfigError(
                "Not logged in: run %reinfer_login first (%reinfer_login --demo for the sandbox)."
            )
        return self.client

    def _progress_bar(self, label: str, total: int | None) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=label[:60], unit=" rows", leave=False)

    def _scope_display_options(self, *, wide: bool = False) -> None:
        """Show at most display_limit rows (and, if wide, whole messages) of this cell's
        frame; pandas' own settings come back after the cell."""
        shell = self.shell
        if shell is None:
            return
        import pandas as pd

        options: dict[str, Any] = {}
        if self.display_limit > 0:
            options["display.max_rows"] = options["display.min_rows"] = self.display_limit
        if wide:
            options["display.max_colwidth"] = options["display.max_columns"] = None
        if not options:
            return
        if self._saved_display is None:
            self._saved_display = {}
            shell.events.register("post_run_cell", self._restore_display)
        for key, value in options.items():
            self._saved_display.setdefault(key, pd.get_option(key))
            pd.set_option(key, value)

    def _restore_display(self, *_: Any) -> None:
        if self._saved_display is None:
            return
        import pandas as pd

        for key, value in self._saved_display.items():
            pd.set_option(key, value)
        self._saved_display = None
        if self.shell is not None:
            self.shell.events.unregister("post_run_cell", self._restore_display)

    # -- timing -----------------------------------------------------------------------

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME", help="Store the log as a DataFrame.")
    @argument("--clear", action="store_true", help="Empty the log.")
    @argument("--csv", metavar="PATH", help="Write the log to a CSV file.")
    @argument("--static", action="store_true", help="Show a static HTML table, not the widget.")
    @argument("--summary", action="store_true", help="Print a one-line summary.")
    @no_var_expand
    @line_magic
    def reinfer_timing(self, line: str = "") -> Any:
        """Show the timing log of every call: a live widget, or the log as a DataFrame.

        Each call's Server-Timing `total` is the platform's own time; the rest of the
        round trip is network (and client) time.

        Examples::

            %reinfer_timing                 # live widget
            %reinfer_timing -o timings      # DataFrame in `timings`
            %reinfer_timing --csv timings.csv
            %reinfer_timing --clear
        """
        args = parse_argstring(self.reinfer_timing, line)
        if args.clear:
            self.timing_log.clear()
            print("Timing log cleared.")
            return None
        if args.csv:
            self.timing_log.to_csv(args.csv)
            print(f"Wrote {len(self.timing_log)} calls to {args.csv}")
        if args.summary:
            print(_summary_line(self.timing_log))
        if args.output:
            frame = self.timing_log.to_frame()
            self._user_ns[args.output] = frame
            return frame
        if args.csv or args.summary:
            return None
        if args.static:
            from IPython.display import HTML

            from .widgets import render_timing_html

            return HTML(render_timing_html(self.timing_log))
        from .widgets import TimingWidget

        widget = TimingWidget(self.timing_log)
        self._widgets.append(widget)
        display(widget)
        return None

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Close widgets, connections and the embedded sandbox."""
        for widget in self._widgets:
            widget.close()
        self._widgets.clear()
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        self._restore_display()


def _context_login(context: Context) -> tuple[Endpoint, Token | None, str]:
    """The endpoint, token (if the context has one) and name of a named context."""
    return normalise_endpoint(context.endpoint), context.token, context.name


def _group_params(params: list[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters; a repeated name becomes a list (``id=a&id=b``)."""
    grouped: dict[str, Any] = {}
    for name, value in params:
        if name in grouped:
            existing = grouped[name]
            grouped[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            grouped[name] = value
    return grouped


def _records(result: Result) -> list[Any]:
    from .records import find_records

    return find_records(result.data)[1]


def _summary_line(log: TimingLog) -> str:
    summary = log.summary()
    if not summary.calls:
        return "No calls yet."

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} ms"

    share = "n/a" if summary.server_share is None else f"{summary.server_share:.0%}"
    return (
        f"{summary.calls} calls; server median {ms(summary.server_median_ms)}, p95 "
        f"{ms(summary.server_p95_ms)}; network median {ms(summary.network_median_ms)}, p95 "
        f"{ms(summary.network_p95_ms)}; {share} of the time on the server"
    )


def _login_error(
    err: ReinferError, endpoint: Endpoint, label: str | None, env_var: str
) -> ReinferError:
    """A login failure, with what to do about it."""
    if isinstance(err, ApiError) and err.http_status in (401, 403):
        fix = (
            f"update the token of context {label!r} (`re config add --name {label}`)"
            if label and label != "sandbox"
            else f"set {env_var}"
        )
        err.message = (
            f"The token was refused by {endpoint.root} (HTTP {err.http_status}): regenerate it "
            f"on your account page, {fix}, and run %reinfer_login again."
        )
    elif isinstance(err, ApiError) and err.http_status == 404:
        err.message = (
            f"{endpoint.root}/auth/user was not found (HTTP 404): the endpoint is probably not "
            "the tenant root; use https://<domain>.reinfer.io or "
            "https://cloud.uipath.com/<org>/<tenant>/reinfer_."
        )
    else:
        err.message = f"Login check failed: {err.message}"
    err.args = (err.message,)
    return err


def _magics(shell: Any = None) -> ReinferMagics:
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    magics = shell.magics_manager.registry.get("ReinferMagics") if shell else None
    if magics is None:
        raise ConfigError("The extension is not loaded: run %load_ext reinfer_nb.")
    return magics  # type: ignore[no-any-return]


def get_client(shell: Any = None) -> Client:
    """The :class:`Client` of the current ``%reinfer_login`` (for code instead of magics).

    A later ``%reinfer_login`` closes this client: call ``get_client()`` again after it.
    """
    return _magics(shell)._require_client()


def get_sandbox(shell: Any = None) -> Sandbox | None:
    """The embedded sandbox when the current login is to it (for its faults and stats)."""
    magics = _magics(shell)
    sandbox, client = magics.sandbox, magics.client
    if sandbox is None or client is None:
        return None
    return sandbox if client.endpoint == normalise_endpoint(sandbox.url) else None


def load_extension(shell: Any) -> ReinferMagics:
    """Register the magics with ``shell`` (what ``%load_ext reinfer_nb`` calls)."""
    magics = ReinferMagics(shell=shell)
    shell.register_magics(magics)
    return magics


def unload_extension(shell: Any) -> None:
    """Unregister the magics and close what they opened."""
    magics = shell.magics_manager.registry.pop("ReinferMagics", None)
    if magics is None:
        return
    magics.close()
    for kind, names in magics.magics.items():
        table = shell.magics_manager.magics[kind]
        for name in names:
            table.pop(name, None)
    if magics in shell.configurables:
        shell.configurables.remove(magics)
