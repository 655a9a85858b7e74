"""IPython magics: ``%reinfer_login``, ``%%reinfer_get`` and friends, ``%reinfer_timing``,
``%reinfer_api`` and ``%reinfer_status``.

A thin layer over :class:`~reinfer_nb.client.Client`: it parses options and cells, calls
the client, and renders answers and errors as DataFrames. State lives on the
:class:`ReinferMagics` instance; ``%config ReinferMagics.<option>`` changes its settings.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from IPython.utils.process import arg_split  # type: ignore[attr-defined]
from traitlets import Bool, Float, Integer, TraitError, Unicode, observe, validate

from .cells import CallSpec, interpolate, parse_body_cell, parse_option_cell, parse_query_cell
from .client import DEFAULT_MAX_ANSWER_MB, Client
from .credentials import TOKEN_ENV_VAR
from .errors import ConfigError, FetchInterrupted, ReinferError
from .login import Login, resolve_login
from .results import check_limits
from .retry import RetryPolicy
from .timing import TimingLog

if TYPE_CHECKING:
    import pandas as pd

    from .live_names import LiveNames
    from .request import Request
    from .results import Pages
    from .sandbox import Sandbox
    from .saving import SavedPull
    from .widgets import TimingWidget

__all__ = ["ReinferMagics", "get_client", "get_sandbox", "load_extension", "unload_extension"]

_DEFAULTS = RetryPolicy()
_F = TypeVar("_F", bound=Callable[..., Any])


def _arguments(*decorators: Callable[[_F], _F]) -> Callable[[_F], _F]:
    """Several ``@argument`` decorators declared once, for every magic that takes them."""

    def apply(func: _F) -> _F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


# Options shared by the request magics (IPython's magic_arguments, declared once).
_output_options = _arguments(
    argument("-o", "--output", metavar="NAME", help="Store the result in this variable."),
    argument("--raw", action="store_true", help="Return the parsed JSON, not a DataFrame."),
)
_paging_options = _arguments(
    argument("--all", action="store_true", help="Follow `continuation` through every page."),
    argument("--limit", type=int, metavar="N", help="At most N rows (stops paging there)."),
    argument("--max-pages", type=int, metavar="N", help="At most N pages (implies --all)."),
)
_bulk_options = _arguments(
    argument("--parallel", type=int, metavar="N",
             help="Fetch time slices with N workers (comments of a source, dataset "
             "queries); implies --all."),
    argument("--save", metavar="PATH",
             help="Stream the rows to Parquet (PATH.parquet: one file; else a directory "
             "partitioned by month); implies --all. -o gets a handle, not a frame."),
    argument("--resume", action="store_true",
             help="Go on with an interrupted --save PATH (fetches only what is missing)."),
)
_query_line = _arguments(
    argument("path", nargs="?", help="API path (line form), e.g. /api/v1/datasets."),
    argument("params", nargs="*", help="Query parameters as name=value (line form)."),
)
_share_options = _arguments(
    argument("--dry-run", action="store_true",
             help="Show the request that would be sent (method, full URL, headers with the "
             "token masked, body) and send nothing."),
    argument("--curl", action="store_true",
             help="Print the equivalent curl command, with $REINFER_TOKEN in place of the "
             "token, and send nothing (a call already made: %%reinfer_timing --curl N)."),
)
_check_options = _arguments(
    argument("--no-check-spec", action="store_true",
             help="Send the call even if the API's spec does not know its path or body."),
)
_body_options = _arguments(
    argument("-b", "--body", metavar="VAR", help="Take the JSON body from this variable."),
    argument("path", nargs="?", help="API path (line form)."),
)


@magics_class
class ReinferMagics(Magics):
    """Magics for the Re:infer / Communications Mining API (``%load_ext reinfer_nb``)."""

    timeout = Float(
        _DEFAULTS.timeout,
        help="Seconds per attempt: connect, send, headers and body together.",
    ).tag(config=True)
    retries = Integer(
        _DEFAULTS.retries, help="Retries of idempotent calls on 5xx, 429 and connection failures."
    ).tag(config=True)
    fail_on_error = Bool(
        True,
        help="Fail the cell after showing the error frame (so Run All stops). "
        "False shows the error frame and goes on.",
    ).tag(config=True)
    display_limit = Integer(
        10, help="Rows shown when a magic's DataFrame is displayed (0: pandas' own setting)."
    ).tag(config=True)
    display_width = Integer(
        60,
        help="Characters shown of a long text cell when a magic's DataFrame is displayed, "
        "so that each row stays one line (the data keeps the whole text; 0: pandas' setting).",
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar while --all pages through.").tag(config=True)
    sandbox_comments = Integer(
        5000, help="Comments in the embedded sandbox started by --demo."
    ).tag(config=True)
    token_env = Unicode(TOKEN_ENV_VAR, help="Environment variable holding the token.").tag(
        config=True
    )
    max_answer_mb = Float(
        DEFAULT_MAX_ANSWER_MB, help="Largest answer accepted, in MB (a larger one is an error)."
    ).tag(config=True)
    check_spec = Bool(
        True,
        help="Check each magic's call against the API's spec before sending it: an unknown "
        "path or an invalid JSON body fails the cell (nothing sent); unknown query parameters "
        "warn. (The Client of get_client() is a plain Client: Client.check_spec, off.)",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # Set before Magics.__init__, which applies %config settings and so fires observers.
        self.client: Client | None = None
        self.login: Login | None = None
        self.user: dict[str, Any] | None = None
        self.live_names: LiveNames | None = None  # the tenant's names, for completion
        self.matcher: Any = None  # registered in shell.Completer.custom_matchers
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

    def _policy(self) -> RetryPolicy:
        return _DEFAULTS.replace(timeout=self.timeout, retries=self.retries)

    # Bad values are refused when set (%config prints the one-line reason), not at the
    # next call.
    @validate("timeout", "max_answer_mb")
    def _positive_number(self, proposal: Any) -> float:
        value = proposal["value"]
        if not (math.isfinite(value) and value > 0):
            raise TraitError(
                f"ReinferMagics.{proposal['trait'].name} must be a number > 0, not {value!r}."
            )
        return float(value)

    @validate("retries", "sandbox_comments", "display_limit", "display_width")
    def _whole_number(self, proposal: Any) -> int:
        value = proposal["value"]
        if value < 0:
            raise TraitError(
                f"ReinferMagics.{proposal['trait'].name} must be a whole number >= 0, "
                f"not {value!r}."
            )
        return int(value)

    @observe("timeout", "retries")
    def _apply_client_settings(self, change: Any) -> None:
        if self.client is not None:
            self.client.policy = self.client.policy.replace(**{change["name"]: change["new"]})

    @observe("max_answer_mb")
    def _apply_answer_limit(self, change: Any) -> None:
        if self.client is not None:
            self.client.max_answer_mb = change["new"]

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
    @argument("--tutorial", action="store_true",
              help="The tutorials' rule: the sandbox unless REINFER_ENDPOINT and REINFER_TOKEN "
              "are both set or a context is current; says which mode and why.")
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
            %reinfer_login --tutorial       # what the tutorials run: says which mode and why
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
        login = resolve_login(
            endpoint=args.endpoint,
            org=args.org,
            tenant=args.tenant,
            domain=args.domain,
            context=args.context,
            contexts_file=args.contexts_file,
            demo=args.demo,
            token=args.token,
            token_env=args.token_env or self.token_env,
            prompt=not args.no_prompt and self._can_prompt(),
            sandbox=self._embedded_sandbox,
            tutorial=args.tutorial,
        )
        if args.tutorial:
            print(login.mode_line())
        client, user = login.connect(
            check=not args.no_check, timing_log=self.timing_log, policy=self._policy(),
            max_answer_mb=self.max_answer_mb,
        )
        if self.client is not None:
            self.client.close()
        from .live_names import LiveNames

        self.client, self.login, self.user = client, login, user or None
        self.live_names = LiveNames.for_login(login)
        if self.check_spec:
            from .spec_check import prepare_in_background

            prepare_in_background()
        if args.output:
            self._user_ns[args.output] = client
        who = user.get("username") or user.get("email") or "(not checked)"
        where = (
            " [embedded sandbox: sample data, not a real tenant]" if login.is_sandbox
            else f" [context {login.context_name}]" if login.context_name
            else ""
        )
        print(f"Logged in to {client.endpoint.root} as {who}, token {client.token.hint}{where}")

    def _can_prompt(self) -> bool:
        kernel = getattr(self.shell, "kernel", None)
        if kernel is not None:
            return bool(getattr(kernel, "_allow_stdin", False))
        return bool(sys.stdin and sys.stdin.isatty())

    def _embedded_sandbox(self) -> Sandbox:
        """The sandbox these magics started (one per shell), started on first use."""
        if self.sandbox is None:
            from .sandbox import start_sandbox

            self.sandbox = start_sandbox(comments=self.sandbox_comments)
        return self.sandbox

    @line_magic
    def reinfer_logout(self, line: str = "") -> None:
        """Forget the token and close the connections (the timing log is kept).

        A client stored with ``-o`` forgets it too: later calls on it fail with a
        "logged out" error.
        """
        if self.client is None:
            print("Not logged in: there is no token to forget.")
            return
        self.client.logout()
        self.client = self.login = self.user = self.live_names = None
        print("Logged out: the token is forgotten.")

    @line_magic
    def reinfer_status(self, line: str = "") -> None:
        """Show the login: endpoint, user, sandbox or tenant, context, token hint, and the
        calls made to it this session (count, median server time).

        Example::

            %reinfer_status
        """
        if self.client is None or self.login is None:
            print("Not logged in: run %reinfer_login (%reinfer_login --demo for the sandbox).")
            return
        from .status import session_status

        print(session_status(self.login, user=self.user, timing_log=self.timing_log,
                             check_spec=self.check_spec))

    # -- finding the way --------------------------------------------------------------

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME",
              help="Store the table (a DataFrame), or the operation shown, in this variable.")
    @argument("words", nargs="*",
              help="Words to look for in paths, summaries and tags; or METHOD PATH (or PATH) "
              "for one operation.")
    @no_var_expand
    @line_magic
    def reinfer_api(self, line: str = "") -> Any:
        """Find your way in the API, from its spec (no call is made).

        With words: the operations whose path, summary or tag contain them all, as a table
        (method, path, summary). With METHOD PATH: that operation's parameters, body fields
        (* required), answer fields and an example cell to copy. PATH may be a template
        (`{owner}`) or a real path.

        Examples::

            %reinfer_api comments
            %reinfer_api -o ops dataset
            %reinfer_api POST /api/_private/datasets/{owner}/{dataset_name}/query
            %reinfer_api GET /api/v1/datasets/dev
        """
        from .api_docs import describe, find_operations
        from .api_index import api_index

        args = parse_argstring(self.reinfer_api, line)
        index = api_index()
        matches = find_operations(args.words, index)
        if matches is not None:
            print("\n\n".join(describe(m.operation, index, m.values) for m in matches))
            if args.output:
                ops = [m.operation for m in matches]
                self._user_ns[args.output] = ops[0] if len(ops) == 1 else ops
            return None
        frame = index.table(index.search(args.words))
        if args.output:
            self._user_ns[args.output] = frame
        if frame.empty:
            print(f"No operation matches {' '.join(args.words)!r}: try fewer or other words.")
            return None
        self._scope_display_options(wide=True)
        return frame

    # -- calls ------------------------------------------------------------------------

    @magic_arguments()
    @_output_options
    @_share_options
    @_paging_options
    @_bulk_options
    @_check_options
    @_query_line
    @no_var_expand
    @line_cell_magic
    def reinfer_get(self, line: str = "", cell: str | None = None) -> Any:
        """GET an API path and return the answer as a DataFrame.

        The first line takes options; in the cell, the first non-blank line is the path
        and each further line a query parameter (`name: value` or `name=value`); `#`
        starts a comment and `{var}` expands from the notebook (URL-encoded in the path).
        An error shows a one-row error frame and fails the cell with one line.
        --dry-run shows the request instead of sending it; --curl prints it as a curl
        command (for a support ticket: the token stays $REINFER_TOKEN).

        Examples::

            %reinfer_get /api/v1/datasets
            %reinfer_get --curl /api/v1/datasets

            %%reinfer_get -o comments --all --limit 1000
            /api/_private/sources/{project}/support-emails/comments
            limit: 256
            from_timestamp: 2025-01-01T00:00:00Z   # ISO 8601
        """
        return self._query_call("GET", self.reinfer_get, line, cell)

    @magic_arguments()
    @_output_options
    @_share_options
    @_check_options
    @_query_line
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
    @_output_options
    @_share_options
    @_body_options
    @_paging_options
    @_bulk_options
    @_check_options
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
    @_output_options
    @_share_options
    @_body_options
    @_check_options
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

    @magic_arguments()
    @argument("dataset", nargs="?", help="The dataset, OWNER/NAME: its comments with labels.")
    @argument("--source", metavar="OWNER/NAME",
              help="A source: alone, its comments (no labels); with a dataset, only the "
              "dataset's comments from this source.")
    @argument("--from", dest="from_", metavar="DATE",
              help="From this ISO date or date-time (UTC unless it says).")
    @argument("--to", metavar="DATE", help="Up to this ISO date (included) or date-time.")
    @argument("--reviewed-only", action="store_true", help="Only comments a person reviewed.")
    @argument("--predictions", action="store_true",
              help="Add predicted, top_label and top_probability.")
    @argument("--label", action="append", metavar="NAME",
              help="Comments assigned or predicted with this label (repeatable: any of them).")
    @argument("--property", action="append", metavar="NAME=VALUE",
              help="User-property filter, e.g. Region=EMEA or number:NPS=9 (repeatable).")
    @argument("--search", metavar="TEXT", help="The API's text search (orders by relevance).")
    @argument("--threshold", type=float, metavar="P",
              help="Probability from which a label counts as predicted (default 0.5).")
    @argument("--limit", type=int, metavar="N", help="At most N comments (default: all).")
    @argument("--parallel", type=int, metavar="N", default=4,
              help="Workers fetching time slices at once (default 4; 1: one page after "
              "another).")
    @argument("--save", metavar="PATH",
              help="Write the tidy rows to Parquet (PATH.parquet: one file; else a "
              "directory partitioned by month); -o gets a handle, not a frame.")
    @argument("--resume", action="store_true",
              help="Go on with an interrupted --save PATH (fetches only what is missing).")
    @_output_options
    @no_var_expand
    @line_cell_magic
    def reinfer_comments(self, line: str = "", cell: str | None = None) -> Any:
        """The comments of a dataset (or a source) as a tidy DataFrame, one row each.

        Pages through everything (with a progress bar) unless --limit says how many.
        Columns: id, uid, source, thread_id, timestamp (UTC), subject, from, to, cc, body,
        messages, n_messages, the user properties, labels, reviewed, (with --predictions)
        predicted, top_label, top_probability, and entities. The same as
        Client.comments(...), whose keyword arguments have the options' names (from_ for
        --from). In the cell form each line is one option; values need no quotes there.

        Examples::

            %reinfer_comments prod/support-triage -o df
            %reinfer_comments prod/support-triage --predictions --from 2024-03-01 --limit 500
            %reinfer_comments --source prod/support-emails --from 2024-12-01

            %%reinfer_comments -o refunds
            prod/support-triage
            --label Billing > Refund
            --property Region=EU
            --reviewed-only
        """
        magic = self.reinfer_comments
        ns = self._user_ns
        parser = magic.parser
        flags = [
            name for action in parser._actions if action.nargs == 0
            for name in action.option_strings
        ]
        argv = arg_split(interpolate(line, ns, url_encode=False), posix=True, strict=False)
        argv += parse_option_cell(cell or "", ns, flags=flags, line_offset=1)
        args = parser.parse_args(argv)
        client = self._require_client()
        from .comments import CommentsInterrupted, collect_comments, save_comments

        options = dict(
            source=args.source, from_=args.from_, to=args.to,
            reviewed_only=args.reviewed_only, predictions=args.predictions,
            label=args.label, property=args.property, search=args.search,
            limit=args.limit, raw=args.raw, progress=self.progress, parallel=args.parallel,
            **({} if args.threshold is None else {"threshold": args.threshold}),
        )
        if args.save is not None or args.resume:
            if args.save is None:
                raise ConfigError("--resume needs --save PATH: the pull to resume.")
            return self._saved(
                lambda: save_comments(client, args.dataset, save=args.save,
                                      resume=args.resume, **options),
                args,
            )
        try:
            value, pages = collect_comments(client, args.dataset, **options)
        except CommentsInterrupted as stop:
            if args.output:
                self._user_ns[args.output] = stop.pages.data if args.raw else stop.frame
                print(f"Interrupted: the {stop.pages.rows} comments fetched are in "
                      f"`{args.output}`.", file=sys.stderr)
            raise
        except ConfigError:
            raise
        except ReinferError as err:
            return self._fail(err, args)
        if pages.error is not None:
            return self._fail(pages.error, args, kept=value)
        return self._deliver(value, args)

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
        check_limits(limit=getattr(args, "limit", None), max_pages=getattr(args, "max_pages", None))
        params = spec.query
        body = spec.body if spec.has_body else ({} if method in ("POST", "PUT") else None)
        if args.dry_run or args.curl:
            return self._show_request(
                client.prepare(method, spec.path, params=params, json=body), args
            )
        if (
            getattr(args, "all", False)
            or getattr(args, "max_pages", None) is not None
            or getattr(args, "limit", None) is not None
            or any(getattr(args, name, None) not in (None, False)
                   for name in ("parallel", "save", "resume"))
        ):
            # --limit N alone pages until N rows too (a page is rarely N rows).
            return self._run_pages(client, method, spec.path, params, body, args)
        from .spec_check import spec_warnings_as_lines

        try:
            with spec_warnings_as_lines():
                result = client.request(method, spec.path, params=params, json=body,
                                        check_spec=self._checks(args))
        except ConfigError:
            raise  # bad input: one line, no error frame
        except ReinferError as err:
            return self._fail(err, args)
        if method in ("PUT", "DELETE") and self.live_names is not None:
            self.live_names.invalidate()  # a write may add or remove names to complete
        if args.raw:
            return self._deliver(result.data, args)
        from .frames import to_frame

        return self._deliver(to_frame(result, max_items=getattr(args, "limit", None)), args)

    def _show_request(self, request: Request, args: Any) -> None:
        """--dry-run / --curl: print the request (nothing was sent); -o keeps it."""
        if args.curl:
            print(request.curl(self._token_env()))
        else:
            print(f"{request.describe()}\n\nDry run: nothing was sent.")
        if args.output:
            self._user_ns[args.output] = request

    def _token_env(self) -> str:
        return self.login.token_env if self.login is not None else self.token_env

    def _run_pages(
        self, client: Client, method: str, path: str, params: Any, body: Any, args: Any
    ) -> Any:
        """``--all``: :meth:`Client.fetch_all`, rendered; rows fetched are kept on failure."""
        from .frames import pages_to_frame
        from .spec_check import spec_warnings_as_lines

        if args.save is not None or args.resume:
            return self._run_save(client, method, path, params, body, args)
        try:
            with spec_warnings_as_lines():
                pages = client.fetch_all(
                    method, path, params=params, json=body, limit=args.limit,
                    max_pages=args.max_pages, progress=self.progress,
                    check_spec=self._checks(args), parallel=args.parallel,
                )
        except FetchInterrupted as stop:
            # The stop button: keep what was fetched, then let the interrupt through.
            if args.output:
                self._user_ns[args.output] = pages_to_frame(stop.pages)
                print(f"Interrupted: the {stop.pages.rows} rows fetched are in "
                      f"`{args.output}`.", file=sys.stderr)
            raise
        if pages.error is None:
            return self._deliver(pages.data if args.raw else pages_to_frame(pages), args)
        return self._fail(pages.error, args, kept=pages)

    def _run_save(
        self, client: Client, method: str, path: str, params: Any, body: Any, args: Any
    ) -> Any:
        """``--save``: :meth:`Client.fetch_all` to Parquet; the cell shows a summary and
        ``-o`` gets the :class:`~reinfer_nb.saving.SavedPull` handle."""
        from .spec_check import spec_warnings_as_lines

        if args.raw:
            raise ConfigError("--raw and --save do not go together: drop one of them.")
        if args.save is None:
            raise ConfigError("--resume needs --save PATH: the pull to resume.")

        def pull() -> SavedPull:
            with spec_warnings_as_lines():
                saved: SavedPull = client.fetch_all(
                    method, path, params=params, json=body, limit=args.limit,
                    max_pages=args.max_pages, progress=self.progress, parallel=args.parallel,
                    save=str(args.save), resume=args.resume, check_spec=self._checks(args),
                )
            return saved

        return self._saved(pull, args)

    def _saved(self, pull: Callable[[], SavedPull], args: Any) -> Any:
        """Run a pull to Parquet: the cell shows its summary, ``-o`` gets the handle; a
        failure shows the summary, then fails the cell (``--resume`` goes on)."""
        from .saving import SaveInterrupted

        try:
            saved = pull()
        except SaveInterrupted as stop:
            if args.output:
                self._user_ns[args.output] = stop.saved
            print(stop.args[0], file=sys.stderr)
            raise
        if args.output:
            self._user_ns[args.output] = saved
        if saved.error is not None:
            self._show_error_frame(saved.summary())
            print(f"{saved.rows:,} rows are saved in {saved.path}: run the same command "
                  "with --resume to fetch the rest.", file=sys.stderr)
            return self._fail(saved.error, argparse.Namespace(output=None))
        self._scope_display_options()
        return saved.summary()

    def _checks(self, args: Any) -> bool:
        return self.check_spec and not getattr(args, "no_check_spec", False)

    def _fail(self, err: ReinferError, args: Any, kept: Pages | Any = None) -> Any:
        """Show the error frame, store the result, then fail the cell (unless configured
        not to). ``kept``: the pages fetched before a pull failed, or what the library made
        of them (stored in ``-o``)."""
        from .frames import error_frame, pages_to_frame
        from .results import Pages

        frame = error_frame(err)
        if isinstance(kept, Pages):
            kept = pages_to_frame(kept)
        value = frame if kept is None else kept
        if args.output:
            self._user_ns[args.output] = value
        if not self.fail_on_error:
            if kept is None:
                self._scope_display_options(wide=True)
                return frame
            self._show_error_frame(frame)
            self._scope_display_options()
            return value
        self._show_error_frame(frame)
        if kept is not None and args.output:
            rows = getattr(err, "rows", None)
            rows = len(kept) if rows is None else rows
            print(f"The {rows} rows fetched are in `{args.output}`.", file=sys.stderr)
        raise err

    def _show_error_frame(self, frame: pd.DataFrame) -> None:
        display(frame)  # an ErrorFrame: whole message and hint, in HTML and in text

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

    def _scope_display_options(self, *, wide: bool = False) -> None:
        """Show at most display_limit rows, text cells cut at display_width (or, if wide,
        whole messages) of this cell's frame; pandas' own settings come back after the cell."""
        shell = self.shell
        if shell is None:
            return
        import pandas as pd

        options: dict[str, Any] = {}
        if self.display_limit > 0:
            options["display.max_rows"] = options["display.min_rows"] = self.display_limit
        if self.display_width > 0:
            # pandas cuts longer cells with "..." and shows newlines as \n: one line a row.
            options["display.max_colwidth"] = self.display_width
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
    @argument("--by-path", action="store_true",
              help="Calls and p50/p95 server and network ms per method and path template, "
              "slowest first (one column group per endpoint). With -o, stores that table.")
    @argument("--curl", type=int, metavar="N",
              help="Print call N of the log (the # column; -1: the latest) as a curl "
              "command, with $REINFER_TOKEN in place of the token.")
    @no_var_expand
    @line_magic
    def reinfer_timing(self, line: str = "") -> Any:
        """Show the timing log of every call: a live widget, or the log as a DataFrame.

        Each call's Server-Timing `total` is the platform's own time; the rest of the
        round trip is network (and client) time.

        Examples::

            %reinfer_timing                 # live widget
            %reinfer_timing -o timings      # DataFrame in `timings`
            %reinfer_timing --by-path       # time per method and path template
            %reinfer_timing --curl -1       # the latest call as a curl command
            %reinfer_timing --csv timings.csv
            %reinfer_timing --clear
        """
        args = parse_argstring(self.reinfer_timing, line)
        if args.clear:
            self.timing_log.clear()
            print("Timing log cleared.")
            return None
        if args.curl is not None:
            print(self.timing_log.curl(args.curl, self._token_env()))
            return None
        if args.by_path:
            from .timing_views import by_path

            table = by_path(self.timing_log)
            if args.output:
                self._user_ns[args.output] = table
            return table
        if args.csv:
            self.timing_log.to_csv(args.csv)
            print(f"Wrote {len(self.timing_log)} calls to {args.csv}")
        if args.summary:
            print(self.timing_log.summary().line())
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
        self.live_names = None
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        self._restore_display()


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
    login = magics.login
    return login.sandbox if login is not None and magics.client is not None else None


def load_extension(shell: Any) -> ReinferMagics:
    """Register the magics with ``shell`` (what ``%load_ext reinfer_nb`` calls)."""
    magics = ReinferMagics(shell=shell)
    shell.register_magics(magics)
    completer = getattr(shell, "Completer", None)
    if completer is not None:
        from .completion import make_matcher

        magics.matcher = make_matcher(magics)
        completer.custom_matchers.append(magics.matcher)
    return magics


def unload_extension(shell: Any) -> None:
    """Unregister the magics and close what they opened."""
    magics = shell.magics_manager.registry.pop("ReinferMagics", None)
    if magics is None:
        return
    magics.close()
    completer = getattr(shell, "Completer", None)
    if completer is not None and magics.matcher in completer.custom_matchers:
        completer.custom_matchers.remove(magics.matcher)
    for kind, names in magics.magics.items():
        table = shell.magics_manager.magics[kind]
        for name in names:
            table.pop(name, None)
    if magics in shell.configurables:
        shell.configurables.remove(magics)
