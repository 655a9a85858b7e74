"""The API client: one keep-alive ``requests.Session`` per login, retries, pagination.

>>> client = Client("https://acme.reinfer.io", token)          # doctest: +SKIP
>>> client.get("/api/v1/datasets").data["datasets"]            # doctest: +SKIP
>>> pages = client.fetch_all("GET", "/api/_private/sources/acme/emails/comments",
...                          params={"limit": 256}, limit=1000)  # doctest: +SKIP
>>> pages_to_frame(pages)                                      # doctest: +SKIP

Every attempt is timed and appended to ``client.timing_log`` (its own, or one passed in,
so that several clients, such as dev and prod, can share a log).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import itertools
import json as jsonlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timezone
from importlib.metadata import version
from os import PathLike
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import unquote, urljoin, urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from ._version import __version__
from .answers import Failure, check_status, decode_answer, map_requests_error
from .credentials import MaskedURL, Token, token_or_error
from .endpoints import Endpoint, normalise_endpoint
from .errors import (
    ApiError,
    ConfigError,
    FetchInterrupted,
    NetworkError,
    PaginationError,
)
from .request import KEEP_BODY_BYTES, Request
from .results import Pages, Result, check_limits, server_count
from .retry import RetryPolicy, SharedPause
from .timing import TimingLog, TimingRecord
from .transport import Deadline, DeadlineAdapter

if TYPE_CHECKING:
    import pandas as pd

    from .saving import SavedPull

# Reads one answer's body: the JSON (or a RawAnswer), else the Failure saying why not.
Decoder = Callable[[bytes, requests.Response, str, str], Any]
# The most workers of a parallel pull, and so the connections the pool keeps per host.
MAX_PARALLEL = 16

__all__ = ["Client", "Pages", "Result", "RetryPolicy"]

log = logging.getLogger("reinfer_nb")

_REQUESTS_VERSION = version("requests")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
DEFAULT_MAX_ANSWER_MB = 512.0
#: Consecutive empty pages (each with a new continuation) after which paging stops.
MAX_EMPTY_PAGES = 50
_CHUNK = 1 << 16


class _PolicySetting:
    """A :class:`Client` attribute that reads, and replaces, one field of its policy."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, client: Client | None, owner: type | None = None) -> Any:
        return self if client is None else getattr(client.policy, self.name)

    def __set__(self, client: Client, value: Any) -> None:
        client.policy = client.policy.replace(**{self.name: value})


# Which multi-page pull (an id) and page the current request belongs to: set by paginate
# around each page's request, read by _send_once into the timing record. A context
# variable, so pulls in other threads do not see each other's.
_PAGE: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "reinfer_nb_page", default=None
)
_PULL_IDS = itertools.count(1)


class Client:
    """A client of one tenant endpoint.

    ``policy`` (a :class:`~reinfer_nb.retry.RetryPolicy`) sets timeouts, retries and waits;
    ``timeout``, ``retries``, ``backoff``, ``retry_after_cap`` and ``retry_budget`` override
    its fields. ``verify`` is as in requests (False accepts invalid certificates); ``proxy``
    is an HTTPS proxy URL (default: the environment's). Plain-HTTP endpoints (loopback
    only) never go through a proxy. ``max_answer_mb`` refuses larger answers (a
    ``too_large`` :class:`NetworkError`) without reading them whole. ``check_spec=True``
    checks every call against the API's spec before sending it
    (:func:`~reinfer_nb.spec_check.check_call`: unknown paths and invalid bodies raise
    :class:`ConfigError`; unknown query parameters warn).

    ``timeout`` bounds each whole attempt (connect, send, headers and body together, however
    slowly a server trickles them); retries stop at the policy's ``budget``.
    """

    def __init__(
        self,
        endpoint: str | Endpoint,
        token: str | Token | None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        retry_after_cap: float | None = None,
        retry_budget: float | None = None,
        policy: RetryPolicy | None = None,
        timing_log: TimingLog | None = None,
        verify: bool | str = True,
        proxy: str | None = None,
        user_agent: str | None = None,
        max_answer_mb: float = DEFAULT_MAX_ANSWER_MB,
        check_spec: bool = False,
    ) -> None:
        secret = token_or_error(token) if token is not None else None
        del token  # no frame of the client keeps the raw secret in a local
        if isinstance(secret, ConfigError):
            raise secret
        if secret is None:
            raise ConfigError(
                "No API token: set REINFER_TOKEN or pass token=..., then create the client again."
            )
        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else normalise_endpoint(endpoint)
        self._token: Token | None = secret
        self._ended: str | None = None  # why the client can no longer send: closed, logged out
        self.max_answer_mb = max_answer_mb
        overrides = {
            name: value
            for name, value in (
                ("timeout", timeout), ("retries", retries), ("backoff", backoff),
                ("retry_after_cap", retry_after_cap), ("budget", retry_budget),
            )
            if value is not None
        }
        self.policy = (policy or RetryPolicy()).replace(**overrides)
        self.timing_log = timing_log if timing_log is not None else TimingLog()
        self._session = requests.Session()
        # Connections open on demand; room for a parallel pull's workers (MAX_PARALLEL).
        adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=MAX_PARALLEL, max_retries=0)
        self._pause = SharedPause()
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = (
            user_agent or f"reinfer-nb/{__version__} python-requests/{_REQUESTS_VERSION}"
        )
        self._session.headers["Accept"] = "application/json"
        self._send_settings = self._transport_settings(verify, proxy)
        ca_bundle = self._send_settings["verify"]
        # What a curl command must repeat to reach the same place (Request.curl).
        self._curl_transport = {
            "insecure": ca_bundle is False,
            "ca_bundle": ca_bundle if isinstance(ca_bundle, str) else None,
            "no_proxy": self.endpoint.scheme == "http",
        }
        self.check_spec = check_spec

    def _transport_settings(self, verify: bool | str, proxy: str | None) -> dict[str, Any]:
        """Proxy and CA settings, computed once per client (not per call)."""
        if self.endpoint.scheme == "http":
            # Plain HTTP goes to loopback only, and never through a proxy: a proxy would
            # see the token in clear text.
            return {"proxies": {}, "verify": verify, "cert": None}
        settings = self._session.merge_environment_settings(
            self.endpoint.root, {"https": proxy} if proxy else {}, True, verify, None
        )
        # A proxy URL may hold a password: shown masked by vars(), debuggers, tracebacks.
        proxies = {key: MaskedURL(url) for key, url in settings["proxies"].items() if url}
        return {"proxies": proxies, "verify": settings["verify"], "cert": settings["cert"]}

    # -- settings --------------------------------------------------------------------

    @property
    def token(self) -> Token:
        """The token (masked in every repr and str); a closed client has none."""
        if self._token is None:
            raise self._ended_error()
        return self._token

    # Settings of the retry policy, readable and settable one by one (a new policy each time).
    timeout = _PolicySetting()
    retries = _PolicySetting()
    backoff = _PolicySetting()
    retry_after_cap = _PolicySetting()

    @property
    def max_answer_mb(self) -> float:
        """The largest answer accepted, in megabytes (10**6 bytes)."""
        return self._max_answer_bytes / 1e6

    @max_answer_mb.setter
    def max_answer_mb(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0
        ):
            raise ConfigError(f"max_answer_mb must be a number of megabytes > 0, not {value!r}.")
        self._max_answer_bytes = int(value * 1e6)

    def __repr__(self) -> str:
        # Also shown half-built, by a traceback of __init__ that lists local variables.
        endpoint = getattr(self, "endpoint", None)
        token = getattr(self, "_token", None)
        shown = repr(token) if token is not None else f"None ({getattr(self, '_ended', None)})"
        return f"Client(endpoint={endpoint.root if endpoint else None!r}, token={shown})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections and forget the token; later calls raise
        :class:`ConfigError`."""
        self._end("closed")

    def logout(self) -> None:
        """Forget the token and close the connections (``%reinfer_logout``): later calls
        on this client, and on any variable holding it, raise :class:`ConfigError`."""
        self._end("logged out")

    def _end(self, why: str) -> None:
        if self._ended is None or why == "logged out":
            self._ended = why
        self._token = None
        self._session.close()

    def _ended_error(self) -> ConfigError:
        if self._ended == "logged out":
            return ConfigError(
                "This client is logged out (%reinfer_logout forgot its token): log in again "
                "with %reinfer_login, or create a new Client."
            )
        return ConfigError(
            "This client is closed (a newer %reinfer_login replaces it): use "
            "reinfer_nb.magics.get_client() again, or create a new Client."
        )

    # -- verbs -----------------------------------------------------------------------

    def get(self, path: str, *, params: Mapping[str, Any] | None = None, **kw: Any) -> Result:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Result:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Result:
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path: str, *, params: Mapping[str, Any] | None = None, **kw: Any) -> Result:
        return self.request("DELETE", path, params=params, **kw)

    def whoami(self) -> dict[str, Any]:
        """The current user (``GET /auth/user``): a cheap check of endpoint and token."""
        user = self.get("/auth/user").data.get("user")
        if not isinstance(user, dict):
            raise NetworkError(
                f"{self.endpoint.root}/auth/user did not return a user: is this the tenant root?",
                reason="bad_protocol",
                method="GET",
                path="/auth/user",
            )
        return user

    def prepare(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """The :class:`~reinfer_nb.request.Request` a call would send; nothing is sent.

        Built exactly as :meth:`request` builds the call (URL, parameters, JSON body,
        headers), without the token: ``.describe()`` shows it, ``.curl()`` shares it.
        Raises :class:`ConfigError` for a bad path or body, as :meth:`request` would.
        """
        if self._token is None:
            raise self._ended_error()
        prepared = self._prepare(method.upper(), path, params, json, headers)
        return self._describe(prepared)

    def _describe(
        self, prepared: requests.PreparedRequest, keep_body: int | None = None
    ) -> Request:
        token = self.token
        return Request.from_prepared(
            prepared, token_hint=token.hint, secret=token.reveal(),
            keep_body=keep_body, transport=self._curl_transport,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        check_spec: bool | None = None,
        decode: Decoder = decode_answer,
    ) -> Result:
        """Send one call (with retries) and return its :class:`Result`.

        Raises :class:`ApiError` when the platform answers with an error,
        :class:`NetworkError` when no platform answer arrived, and :class:`ConfigError`
        for a bad path or body (before anything is sent). ``check_spec`` overrides the
        client's setting for this call. ``decode`` reads the body (bulk pulls pass
        :class:`reinfer_nb.columnar.PageDecoder`). A 429 pauses every thread that uses
        this client, for the wait it asks (see :class:`SharedPause`).

        Each attempt ends within ``timeout``. No retry starts once the budget is spent (the
        budget or one timeout, whichever is longer, plus any ``Retry-After`` waits) or with
        less than a second of it left, and a retry ends when the budget does; so does the
        call. Ctrl-C raises a fresh ``KeyboardInterrupt``: no frame of the HTTP library
        (where the ``Authorization`` header lives) is in its traceback.
        """
        if self._token is None:
            raise self._ended_error()
        method = method.upper()
        prepared = self._prepare(method, path, params, json, headers)
        if self.check_spec if check_spec is None else check_spec:
            # After _prepare: a body JSON cannot carry (NaN, a cycle) is refused as such.
            self._check_spec(method, path, params, json)
        policy = self.policy
        if idempotent is None:
            idempotent = policy.is_idempotent(method)
        started = time.monotonic()
        budget = max(policy.budget, policy.timeout)
        waited_for_server = 0.0  # Retry-After waits do not count against the budget
        attempt = 1
        seconds = policy.timeout
        while True:
            waited_for_server += self._pause.wait()  # a 429 seen by another thread
            outcome = self._send_once(prepared, attempt, seconds, decode)
            if outcome is None:
                raise KeyboardInterrupt  # raised here, outside any except: nothing chained
            if isinstance(outcome, Result):
                return outcome
            failure, record = outcome
            give_up = attempt > policy.retries or not policy.may_retry(
                failure, idempotent=idempotent
            )
            wait, from_header = (0.0, False) if give_up else policy.wait(
                attempt, failure.retry_after
            )
            if from_header:
                waited_for_server += wait
            left = budget + waited_for_server - (time.monotonic() - started) - wait
            if not give_up and left < min(policy.timeout, 1.0):
                give_up = True
            seconds = min(policy.timeout, left)
            if give_up:
                raise failure.to_error(
                    method,
                    record.path,
                    timing=record,
                    attempts=attempt,
                    not_resent=(
                        attempt <= policy.retries
                        and not idempotent
                        and policy.may_retry(failure, idempotent=True)
                    ),
                )
            log.info(
                "%s %s: %s; retrying in %.2f s (attempt %d of %d)",
                method, record.path, failure.text, wait, attempt + 1, policy.retries + 1,
            )
            if failure.http_status == 429:
                self._pause.hold(wait)  # every worker of a parallel pull slows down
            time.sleep(wait)
            attempt += 1

    # -- pages -----------------------------------------------------------------------

    def paginate(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        max_pages: int | None = None,
        max_items: int | None = None,
        idempotent: bool | None = True,
        check_spec: bool | None = None,
        decode: Decoder = decode_answer,
    ) -> Iterator[Result]:
        """Yield the pages of a listing, following ``continuation`` until it is absent.

        GET listings (the comments of a source) pass the token back as the ``after``
        query parameter; POST queries pass it as ``continuation`` in the body. Listing
        queries are reads, so POST pages are retried like GETs (``idempotent=True``).
        A failure raises :class:`PaginationError` (page and rows so far; the cause
        chained) after the pages already yielded; so do :data:`MAX_EMPTY_PAGES` empty pages
        in a row that each pass a new continuation (a pager that never ends). A bad path,
        body, ``max_pages`` or ``max_items`` raises :class:`ConfigError` before anything is
        sent. ``check_spec`` (see :meth:`request`) checks the first page's call: later pages
        only add the continuation.
        """
        check_limits(max_pages=max_pages, max_items=max_items)
        method = method.upper()
        query = dict(params or {})
        body = dict(json) if json is not None else ({} if method == "POST" else None)
        seen: set[str] = set()
        pages = items = empty = 0
        pull = next(_PULL_IDS)  # the timing log groups this pull's pages by it
        while True:
            marker = _PAGE.set((pull, pages + 1))
            try:
                result = self.request(
                    method, path, params=query, json=body, idempotent=idempotent,
                    check_spec=check_spec if pages == 0 else False, decode=decode,
                )
            except (ApiError, NetworkError) as err:
                raise PaginationError(err, page=pages + 1, rows=items) from err
            finally:
                _PAGE.reset(marker)
            pages += 1
            items += result.rows
            empty = 0 if result.rows else empty + 1
            yield result
            token = result.continuation
            if token is None:
                return
            if empty >= MAX_EMPTY_PAGES:
                endless = NetworkError(
                    f"{empty} pages in a row on {result.path} were empty, each with a new "
                    "continuation: the listing does not seem to end, so paging stopped.",
                    reason="bad_protocol",
                    method=method,
                    path=result.path,
                )
                raise PaginationError(endless, page=pages + 1, rows=items)
            if (max_pages is not None and pages >= max_pages) or (
                max_items is not None and items >= max_items
            ):
                return
            if token in seen:
                loop = NetworkError(
                    f"Pagination did not advance on {result.path} (the same continuation came "
                    f"back after page {pages}); stopping to avoid a loop.",
                    reason="bad_protocol",
                    method=method,
                    path=result.path,
                )
                raise PaginationError(loop, page=pages + 1, rows=items)
            seen.add(token)
            if method in ("GET", "DELETE"):
                query["after"] = token
            else:
                body = {**(body or {}), "continuation": token}

    @overload
    def fetch_all(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = ...,
        json: Mapping[str, Any] | None = ..., limit: int | None = ...,
        max_pages: int | None = ..., progress: bool = ..., check_spec: bool | None = ...,
        parallel: int | None = ..., save: None = ..., resume: bool = ...,
        columnar: bool = ...,
    ) -> Pages: ...

    @overload
    def fetch_all(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = ...,
        json: Mapping[str, Any] | None = ..., limit: int | None = ...,
        max_pages: int | None = ..., progress: bool = ..., check_spec: bool | None = ...,
        parallel: int | None = ..., save: str | PathLike[str], resume: bool = ...,
        columnar: bool = ...,
    ) -> SavedPull: ...

    def fetch_all(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        limit: int | None = None,
        max_pages: int | None = None,
        progress: bool = False,
        check_spec: bool | None = None,
        parallel: int | None = None,
        save: str | PathLike[str] | None = None,
        resume: bool = False,
        columnar: bool = True,
    ) -> Pages | SavedPull:
        """Every page of a listing or query, kept even when the pull stops early.

        Stops after ``limit`` rows or ``max_pages`` pages. Pages are as large as the
        endpoint accepts (``min(limit, maximum)``, see :mod:`reinfer_nb.paging`) unless the
        request gives its own ``limit``. ``Pages.has_more`` says whether the server had
        more when ``limit`` or ``max_pages`` stopped the pull. A failure midway does not
        raise: ``Pages.error`` holds it and the pages before it are kept. Ctrl-C raises
        :class:`~reinfer_nb.errors.FetchInterrupted`, whose ``pages`` keeps what was
        fetched. ``progress`` shows a progress bar (tqdm) while it runs; its total is the
        server's count of matching rows when the answer gives one. A ``limit`` or
        ``max_pages`` below 1 raises :class:`ConfigError` before anything is sent.

        Pages are decoded into Arrow as they arrive and kept as compressed bytes
        (``columnar=False``: parsed JSON, as a plain call). ``parallel=N`` fetches time
        slices with N workers (comments of a source, dataset queries; see
        :mod:`reinfer_nb.slices`). ``save=PATH`` streams the rows to Parquet instead of
        keeping them and returns a :class:`~reinfer_nb.saving.SavedPull`; ``resume=True``
        goes on with an interrupted save (see :mod:`reinfer_nb.saving`).
        """
        from .frames import paused_gc
        from .paging import with_page_size
        from .progress import RowProgress

        check_limits(limit=limit, max_pages=max_pages)
        method = method.upper()
        parallel = _check_parallel(parallel)
        params, json = with_page_size(
            method, _path_below(self.endpoint.join(path), self.endpoint.root), params, json, limit
        )
        decode: Decoder = decode_answer
        if columnar:
            from .columnar import PageDecoder

            decode = PageDecoder()
        if (save is not None or resume or parallel > 1) and (
            self.check_spec if check_spec is None else check_spec
        ):
            self._check_spec(method, path, params, json)  # once: the workers do not
        mark = functools.partial(_page_of_pull, next(_PULL_IDS))
        if save is not None or resume:
            from .saving import save_pull

            return save_pull(
                self, method, path, params=params, json=json, limit=limit,
                max_pages=max_pages, progress=progress, parallel=parallel, save=save,
                resume=resume, decode=decode, mark=mark,
            )
        if parallel > 1:
            if max_pages is not None:
                raise ConfigError(
                    "max_pages counts pages in order, which a parallel pull does not fetch "
                    "in: use limit (rows) instead, or drop parallel."
                )
            from .slices import fetch_parallel

            with paused_gc():
                return fetch_parallel(
                    self, method, path, params=params, json=json, parallel=parallel,
                    limit=limit, progress=progress, decode=decode, mark=mark,
                )
        pages = Pages(method, path, limit=limit)
        bar = RowProgress(f"{method} {path}", total=limit, enabled=progress)
        rows = 0
        try:
            with paused_gc():  # a bulk pull decodes millions of small objects
                for result in self.paginate(
                    method, path, params=params, json=json, max_pages=max_pages,
                    max_items=limit, check_spec=check_spec, decode=decode,
                ):
                    pages.results.append(result)
                    if pages.server_count is None:
                        count = pages.server_count = server_count(result.answer)
                        if count is not None:
                            bar.set_total(count if limit is None else min(count, limit))
                    rows += result.rows  # (Pages.rows would sum every page again)
                    bar.update(rows if limit is None else min(rows, limit))
        except PaginationError as err:
            pages.error = err
        except KeyboardInterrupt:
            pages.interrupted = True
            bar.close(finished=False)
            raise FetchInterrupted(pages) from None
        bar.close(finished=pages.complete)
        pages.has_more = pages.complete and _more_on_server(pages)
        return pages

    # -- analysis --------------------------------------------------------------------

    def comments(
        self,
        dataset: str | None = None,
        *,
        source: str | None = None,
        from_: str | date | None = None,
        to: str | date | None = None,
        reviewed_only: bool = False,
        predictions: bool = False,
        label: str | Iterable[str] | None = None,
        property: str | Iterable[str] | Mapping[str, Any] | None = None,  # noqa: A002
        search: str | None = None,
        limit: int | None = None,
        threshold: float | Mapping[str, float] = 0.5,
        raw: bool = False,
        progress: bool = False,
        parallel: int | None = 4,
        save: str | PathLike[str] | None = None,
        resume: bool = False,
    ) -> Any:
        """The comments of a dataset (``"owner/name"``) or a ``source``, one tidy row each.

        A dataset is read through the dataset query, so labels and predictions come with
        each comment (``source=`` then keeps one of its sources); a source alone through
        its comments listing. Every page is fetched (of the largest size the endpoint
        accepts) unless ``limit`` says how many comments; ``progress`` shows a bar.

        Filters (a dataset's): ``from_``/``to`` (ISO dates or date-times; a date ``to``
        includes that day), ``reviewed_only``, ``label`` (names, e.g. ``"Billing >
        Refund"``: comments assigned or predicted with any), ``property`` (``"NAME=VALUE"``
        items or a mapping: user properties, ``string:``/``number:`` optional), ``search``
        (the API's text search; it orders by relevance). ``from_``/``to`` also work on a
        source.

        Columns, in order: ``id``, ``uid``, ``source`` (owner/name), ``thread_id``,
        ``timestamp`` (datetime64[ns, UTC]), ``subject``, ``from``, ``to``, ``cc``,
        ``body`` (of the first message), ``messages`` (all of them), ``n_messages``, the
        user properties (named without ``string:``/``number:``; numbers as floats),
        ``labels`` (assigned, full names), ``reviewed`` (bool); with ``predictions``:
        ``predicted`` (labels at or above ``threshold``, a float or one per label),
        ``top_label`` (the most probable leaf label), ``top_probability``; and
        ``entities`` (``{kind, name, formatted_value}``). ``attrs`` as for every frame
        (raw pages, url, timing, ``complete``, ``has_more``) plus ``label_names``.

        ``parallel`` workers fetch time slices at once (see :mod:`reinfer_nb.slices`; a
        pull of a page or two, one with a ``limit`` or one ordered by ``search`` stays
        sequential).
        ``save=PATH`` writes the tidy rows to Parquet as they arrive instead (a directory
        partitioned by month, or ``PATH.parquet``) and returns a
        :class:`~reinfer_nb.saving.SavedPull`; ``resume`` goes on with an interrupted save
        (see :mod:`reinfer_nb.saving`).

        ``raw`` returns the JSON pages instead. Bad options raise :class:`ConfigError`
        before any comment is fetched; an API error before the first page raises it; a
        failure after some pages returns them with ``attrs["complete"]`` False; Ctrl-C
        raises :class:`~reinfer_nb.comments.CommentsInterrupted` (``.frame`` keeps them).
        """
        from .comments import fetch_comments

        return fetch_comments(
            self, dataset, source=source, from_=from_, to=to, reviewed_only=reviewed_only,
            predictions=predictions, label=label, property=property, search=search,
            limit=limit, threshold=threshold, raw=raw, progress=progress, parallel=parallel,
            save=save, resume=resume,
        )

    def label_probabilities(
        self,
        dataset: str,
        *,
        source: str | None = None,
        from_: str | date | None = None,
        to: str | date | None = None,
        reviewed_only: bool = False,
        label: str | Iterable[str] | None = None,
        property: str | Iterable[str] | Mapping[str, Any] | None = None,  # noqa: A002
        search: str | None = None,
        limit: int | None = None,
        progress: bool = False,
    ) -> pd.DataFrame:
        """The predicted probability of every label for the comments of a dataset: one row
        per comment (index ``uid``), one column per label of the taxonomy (0.0 where the
        model gave none), for modelling and heatmaps. Filters as in :meth:`comments`."""
        from .comments import fetch_label_probabilities

        return fetch_label_probabilities(
            self, dataset, source=source, from_=from_, to=to, reviewed_only=reviewed_only,
            label=label, property=property, search=search, limit=limit, progress=progress,
        )

    # -- one attempt ----------------------------------------------------------------

    def _check_spec(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Any
    ) -> None:
        from .spec_check import check_call

        # The path below the tenant root, as it will be sent (full URLs and shorthands
        # resolved by the same rules as the call itself).
        route = self.endpoint.join(path)[len(self.endpoint.root):]
        check_call(method, route, params=params, body=body, stacklevel=3)

    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None,
    ) -> requests.PreparedRequest:
        url = self.endpoint.join(path)
        extra = dict(headers or {})
        data: bytes | None = None
        if body is not None:
            encoded = _encode_json(body)
            if isinstance(encoded, str):
                raise ConfigError(f"The JSON body of {method} {path} cannot be sent: {encoded}")
            data = encoded
            if not any(name.lower() == "content-type" for name in extra):
                extra["Content-Type"] = "application/json"
        assert self._token is not None
        problem: str | None = None
        try:
            prepared = self._session.prepare_request(
                requests.Request(
                    method, url, params=params or None, data=data,
                    headers={"Authorization": _Bearer(self._token), **extra},
                )
            )
        except (TypeError, ValueError, requests.RequestException) as exc:
            problem = self._hide_token(str(exc))
        if problem is not None:  # raised outside the except: nothing of requests chained
            raise ConfigError(
                f"Cannot encode the request for {method} {path}: {problem}. "
                "Send JSON-compatible values (text, numbers, lists, objects)."
            )
        if prepared.url is None or not _same_origin(prepared.url, self.endpoint.origin):
            raise ConfigError(f"Refusing to send the token outside {self.endpoint.origin}.")
        return prepared

    def _send_once(
        self, prepared: requests.PreparedRequest, attempt: int, seconds: float,
        decode: Decoder = decode_answer,
    ) -> Result | tuple[Failure, TimingRecord] | None:
        """One attempt, bounded by ``seconds`` in all: its Result, or its failure; either
        way it is in the timing log. None: Ctrl-C stopped it (the caller raises a fresh
        ``KeyboardInterrupt``, so no frame below this one reaches a traceback).

        Everything kept from the answer (its body, URL, ``Server-Timing``) has any echo of
        the token replaced by the token's hint.
        """
        method = prepared.method or "GET"
        path = self._hide_token(_path_below(prepared.url or "", self.endpoint.root))
        sent = self._describe(prepared, KEEP_BODY_BYTES)  # to rebuild it later, no token
        page = _PAGE.get()
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        response: requests.Response | None = None
        ttfb_ms: float | None = None
        body = b""
        received = 0
        data: Any = None
        failure: Failure | None = None
        interrupted = False
        deadline = Deadline(seconds)
        try:
            with deadline, warnings.catch_warnings():
                if self._send_settings["verify"] is False:  # the user chose to accept these
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                for _ in range(_MAX_REDIRECTS + 1):
                    response = self._session.send(
                        prepared, timeout=seconds, allow_redirects=False,
                        stream=True, **self._send_settings,
                    )
                    ttfb_ms = (time.perf_counter() - t0) * 1000.0
                    body, received, failure = self._read_body(response, method, path)
                    if failure is not None or (
                        response.status_code not in _REDIRECTS
                        or "Location" not in response.headers
                    ):
                        break
                    prepared, failure = self._follow_redirect(prepared, response, path)
                    if failure is not None:
                        break
                else:
                    failure = Failure(
                        "network",
                        f"{method} {path} was redirected more than {_MAX_REDIRECTS} times:",
                        "check the endpoint URL.",
                        reason="redirect",
                        http_status=response.status_code if response is not None else None,
                    )
        except requests.RequestException as exc:
            failure = map_requests_error(exc, method, path, self.endpoint)
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:  # noqa: BLE001  anything else from the HTTP library
            failure = Failure(
                "network",
                f"{method} {path} failed inside the HTTP library ({type(exc).__name__}):",
                "retry; if it keeps happening, check the endpoint and any proxy.",
                reason="connection",
            )
        if response is not None and (failure is not None or interrupted or deadline.fired):
            response.close()  # a half-read answer: its connection is not reused
        if interrupted:
            return None
        if deadline.fired:  # whatever the library made of the cut socket
            failure = self._deadline_failure(method, path, seconds)
        if failure is None:
            assert response is not None
            body = self._hide_token_bytes(body)
            decoded = decode(body, response, path, method)
            if isinstance(decoded, Failure):
                failure = decoded
            else:
                data = decoded
                failure = check_status(
                    data, response.status_code, method, path,
                    response.headers.get("Retry-After"), redact=self._hide_token,
                )
        client_ms = (time.perf_counter() - t0) * 1000.0
        status = response.status_code if response is not None else None
        server_timing = response.headers.get("Server-Timing") if response is not None else None
        record = TimingRecord.from_measurement(
            started_at=started_at,
            endpoint=self.endpoint.root,
            method=method,
            path=path,
            http_status=status,
            server_timing_header=(
                self._hide_token(server_timing) if server_timing is not None else None
            ),
            client_ms=client_ms,
            ttfb_ms=ttfb_ms,
            bytes_received=received,
            attempt=attempt,
            outcome="ok" if failure is None else failure.kind,
            request=sent,
            pull=page[0] if page is not None else None,
            page=page[1] if page is not None else None,
        )
        self.timing_log.append(record)
        if failure is None:
            url = self._hide_token(prepared.url or "")
            return Result(data, status or 0, method, url, record, attempt)
        if failure.http_status is None and status is not None:
            failure = dataclasses.replace(failure, http_status=status)
        return failure.redacted(self._hide_token), record

    def _read_body(
        self, response: requests.Response, method: str, path: str
    ) -> tuple[bytes, int, Failure | None]:
        """The answer's body (decompressed), bytes read, and a failure if it is larger
        than ``max_answer_mb``: read in chunks, so a huge answer is never held whole."""
        limit = self._max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and len(declared) < 20 and int(declared) > limit:
            return b"", 0, self._too_large(method, path, int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > limit:
                return b"", size, self._too_large(method, path, None)
            chunks.append(chunk)
        return b"".join(chunks), size, None

    def _too_large(self, method: str, path: str, size: int | None) -> Failure:
        told = f" ({size / 1e6:,.1f} MB)" if size is not None else ""
        return Failure(
            "network",
            f"The answer to {method} {path}{told} is larger than max_answer_mb "
            f"({self.max_answer_mb:g} MB); it was not read whole:",
            "ask for less (a smaller page limit, or --limit), or raise max_answer_mb "
            "(%config ReinferMagics.max_answer_mb).",
            reason="too_large",
        )

    def _deadline_failure(self, method: str, path: str, seconds: float) -> Failure:
        host = self.endpoint.host + (f":{self.endpoint.port}" if self.endpoint.port else "")
        return Failure(
            "network",
            f"No whole answer from {host} within the timeout ({seconds:.3g} s for the attempt) "
            f"for {method} {path}: the server is slow or sends the answer in a trickle;",
            "retry later or raise the timeout (%config ReinferMagics.timeout).",
            reason="read_timeout",
        )

    def _follow_redirect(
        self, prepared: requests.PreparedRequest, response: requests.Response, path: str
    ) -> tuple[requests.PreparedRequest, Failure | None]:
        """Follow a redirect within this endpoint's origin; refuse any other."""
        target = urljoin(prepared.url or "", response.headers["Location"])
        if not _same_origin(target, self.endpoint.origin):
            return prepared, Failure(
                "network",
                f"{prepared.method} {path} was redirected to {urlsplit(target).netloc}, another "
                "host; not followed, so the token stays here.",
                "Check the endpoint URL.",
                reason="redirect",
                http_status=response.status_code,
            )
        if self._token is not None and self._token.reveal() in unquote(target):
            # A URL ends up in logs (urllib3's at DEBUG, servers', proxies'): the token
            # must not travel in one, even to its own origin.
            return prepared, Failure(
                "network",
                f"{prepared.method} {path} was redirected to a URL that contains the token; "
                "not followed, so the token stays out of URLs and logs.",
                "Check the endpoint URL.",
                reason="redirect",
                http_status=response.status_code,
            )
        new = prepared.copy()
        new.prepare_url(target, None)
        if response.status_code == 303 or (
            response.status_code in (301, 302) and prepared.method == "POST"
        ):
            new.method = "GET"
            new.body = None
            new.headers.pop("Content-Type", None)
            new.headers.pop("Content-Length", None)
        return new, None

    def _hide_token(self, text: str) -> str:
        """``text`` with every echo of the token replaced by its hint."""
        if self._token is None:
            return text
        return text.replace(self._token.reveal(), self._token.hint)

    def _hide_token_bytes(self, body: bytes) -> bytes:
        if self._token is None or self._token.reveal().encode() not in body:
            return body
        return body.replace(self._token.reveal().encode(), self._token.hint.encode())


def _check_parallel(parallel: int | None) -> int:
    if parallel is None:
        return 1
    if isinstance(parallel, bool) or not isinstance(parallel, int) or not (
        1 <= parallel <= MAX_PARALLEL
    ):
        raise ConfigError(
            f"parallel must be a whole number from 1 to {MAX_PARALLEL}, not {parallel!r}."
        )
    return parallel


@contextlib.contextmanager
def _page_of_pull(pull: int, page: int) -> Iterator[None]:
    """Mark the requests made inside as page ``page`` of pull ``pull`` (timing log)."""
    marker = _PAGE.set((pull, page))
    try:
        yield
    finally:
        _PAGE.reset(marker)


class _Bearer(str):
    """The ``Authorization`` header value: sent as it is, but its ``repr`` is masked.

    Tracebacks that show local variables (``%xmode Verbose``, ``%debug``) print the header
    dicts of requests and urllib3 with ``repr``: this keeps the token out of them.
    """

    __slots__ = ()

    def __new__(cls, token: Token) -> _Bearer:
        return super().__new__(cls, f"Bearer {token.reveal()}")

    def __repr__(self) -> str:
        return f"'Bearer {Token(self[7:]).hint}'"

    def __reduce__(self) -> Any:
        raise TypeError("The Authorization header cannot be pickled.")


def _more_on_server(pages: Pages) -> bool:
    """Whether the server holds rows past those kept: the last page fetched named a
    next one, or ``limit`` cut rows off the pages fetched."""
    if not pages.results:
        return False
    fetched = sum(result.rows for result in pages.results)  # (without parsing raw pages)
    return pages.results[-1].continuation is not None or (
        pages.limit is not None and fetched > pages.limit
    )


def _encode_json(body: Any) -> bytes | str:
    """``body`` as JSON (UTF-8), or why it cannot be sent, in words (never raises)."""
    try:
        return jsonlib.dumps(body, allow_nan=False).encode("utf-8")
    except ValueError as exc:
        if "circular" in str(exc).lower():
            return "it contains itself (a circular reference). Send a copy without the loop."
        return (
            "it contains NaN or Infinity, which JSON cannot carry. Replace them (for "
            "example with None)."
        )
    except TypeError as exc:
        return f"{exc}. Send JSON-compatible values (text, numbers, lists, objects)."
    except RecursionError:
        return "it is nested too deeply to encode. Send a flatter body."


def _same_origin(url: str, origin: str) -> bool:
    try:
        return normalise_endpoint(url.split("?", 1)[0], strip_api=False).origin == origin
    except ConfigError:
        return False


def _path_below(url: str, root: str) -> str:
    return url[len(root):] if url.startswith(root) else urlsplit(url).path

