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

import dataclasses
import logging
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timezone
from importlib.metadata import version
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from ._version import __version__
from .answers import Failure, check_status, decode_answer, map_requests_error
from .credentials import Token
from .endpoints import Endpoint, normalise_endpoint
from .errors import (
    ApiError,
    ConfigError,
    FetchInterrupted,
    NetworkError,
    PaginationError,
)
from .results import Pages, Result, server_count
from .retry import RetryPolicy
from .timing import TimingLog, TimingRecord

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Client", "Pages", "Result", "RetryPolicy"]

log = logging.getLogger("reinfer_nb")

_REQUESTS_VERSION = version("requests")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


class _PolicySetting:
    """A :class:`Client` attribute that reads, and replaces, one field of its policy."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, client: Client | None, owner: type | None = None) -> Any:
        return self if client is None else getattr(client.policy, self.name)

    def __set__(self, client: Client, value: Any) -> None:
        client.policy = client.policy.replace(**{self.name: value})


class Client:
    """A client of one tenant endpoint.

    ``policy`` (a :class:`~reinfer_nb.retry.RetryPolicy`) sets timeouts, retries and waits;
    ``timeout``, ``retries``, ``backoff``, ``retry_after_cap`` and ``retry_budget`` override
    its fields. ``verify`` is as in requests (False accepts invalid certificates); ``proxy``
    is an HTTPS proxy URL (default: the environment's). Plain-HTTP endpoints (loopback
    only) never go through a proxy.
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
    ) -> None:
        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else normalise_endpoint(endpoint)
        if token is None:
            raise ConfigError(
                "No API token: set REINFER_TOKEN or pass token=..., then create the client again."
            )
        self._token = Token(token)
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
        self._closed = False
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = (
            user_agent or f"reinfer-nb/{__version__} python-requests/{_REQUESTS_VERSION}"
        )
        self._session.headers["Accept"] = "application/json"
        self._send_settings = self._transport_settings(verify, proxy)

    def _transport_settings(self, verify: bool | str, proxy: str | None) -> dict[str, Any]:
        """Proxy and CA settings, computed once per client (not per call)."""
        if self.endpoint.scheme == "http":
            # Plain HTTP goes to loopback only, and never through a proxy: a proxy would
            # see the token in clear text.
            return {"proxies": {}, "verify": verify, "cert": None}
        settings = self._session.merge_environment_settings(
            self.endpoint.root, {"https": proxy} if proxy else {}, True, verify, None
        )
        return {key: settings[key] for key in ("proxies", "verify", "cert")}

    # -- settings --------------------------------------------------------------------

    @property
    def token(self) -> Token:
        """The token (masked in every repr and str)."""
        return self._token

    # Settings of the retry policy, readable and settable one by one (a new policy each time).
    timeout = _PolicySetting()
    retries = _PolicySetting()
    backoff = _PolicySetting()
    retry_after_cap = _PolicySetting()

    def __repr__(self) -> str:
        return f"Client(endpoint={self.endpoint.root!r}, token={self._token!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections; later calls raise :class:`ConfigError`."""
        self._closed = True
        self._session.close()

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

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Result:
        """Send one call (with retries) and return its :class:`Result`.

        Raises :class:`ApiError` when the platform answers with an error,
        :class:`NetworkError` when no platform answer arrived, and :class:`ConfigError`
        for a bad path or body (before anything is sent).
        """
        if self._closed:
            raise ConfigError(
                "This client is closed (a newer %reinfer_login replaces it): use "
                "reinfer_nb.magics.get_client() again, or create a new Client."
            )
        method = method.upper()
        prepared = self._prepare(method, path, params, json, headers)
        policy = self.policy
        if idempotent is None:
            idempotent = policy.is_idempotent(method)
        started = time.monotonic()
        waited_for_server = 0.0  # Retry-After waits do not count against the budget
        attempt = 1
        while True:
            outcome = self._send_once(prepared, attempt)
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
            elif not give_up and (
                time.monotonic() - started + wait > policy.budget + waited_for_server
            ):
                give_up = True
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
    ) -> Iterator[Result]:
        """Yield the pages of a listing, following ``continuation`` until it is absent.

        GET listings (the comments of a source) pass the token back as the ``after``
        query parameter; POST queries pass it as ``continuation`` in the body. Listing
        queries are reads, so POST pages are retried like GETs (``idempotent=True``).
        A failure raises :class:`PaginationError` (page and rows so far; the cause
        chained) after the pages already yielded. A bad path or body raises
        :class:`ConfigError` before anything is sent.
        """
        method = method.upper()
        query = dict(params or {})
        body = dict(json) if json is not None else ({} if method == "POST" else None)
        seen: set[str] = set()
        pages = items = 0
        while True:
            try:
                result = self.request(method, path, params=query, json=body, idempotent=idempotent)
            except (ApiError, NetworkError) as err:
                raise PaginationError(err, page=pages + 1, rows=items) from err
            pages += 1
            items += len(result.records)
            yield result
            token = result.continuation
            if token is None:
                return
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
    ) -> Pages:
        """Every page of a listing or query, kept even when the pull stops early.

        Stops after ``limit`` rows or ``max_pages`` pages. Pages are as large as the
        endpoint accepts (``min(limit, maximum)``, see :mod:`reinfer_nb.paging`) unless the
        request gives its own ``limit``. ``Pages.has_more`` says whether the server had
        more when ``limit`` or ``max_pages`` stopped the pull. A failure midway does not
        raise: ``Pages.error`` holds it and the pages before it are kept. Ctrl-C raises
        :class:`~reinfer_nb.errors.FetchInterrupted`, whose ``pages`` keeps what was
        fetched. ``progress`` shows a progress bar (tqdm) while it runs; its total is the
        server's count of matching rows when the answer gives one.
        """
        from .frames import paused_gc
        from .paging import with_page_size
        from .progress import RowProgress

        method = method.upper()
        params, json = with_page_size(
            method, _path_below(self.endpoint.join(path), self.endpoint.root), params, json, limit
        )
        pages = Pages(method, path, limit=limit)
        bar = RowProgress(f"{method} {path}", total=limit, enabled=progress)
        try:
            with paused_gc():  # a bulk pull decodes millions of small objects
                for result in self.paginate(
                    method, path, params=params, json=json, max_pages=max_pages,
                    max_items=limit,
                ):
                    pages.results.append(result)
                    if pages.server_count is None:
                        count = pages.server_count = server_count(result.data)
                        if count is not None:
                            bar.set_total(count if limit is None else min(count, limit))
                    bar.update(pages.rows)
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

        ``raw`` returns the JSON pages instead. Bad options raise :class:`ConfigError`
        before any comment is fetched; an API error before the first page raises it; a
        failure after some pages returns them with ``attrs["complete"]`` False; Ctrl-C
        raises :class:`~reinfer_nb.comments.CommentsInterrupted` (``.frame`` keeps them).
        """
        from .comments import fetch_comments

        return fetch_comments(
            self, dataset, source=source, from_=from_, to=to, reviewed_only=reviewed_only,
            predictions=predictions, label=label, property=property, search=search,
            limit=limit, threshold=threshold, raw=raw, progress=progress,
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

    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None,
    ) -> requests.PreparedRequest:
        url = self.endpoint.join(path)
        all_headers = {"Authorization": _Bearer(self._token), **(headers or {})}
        try:
            request = requests.Request(
                method, url, params=params or None, json=body, headers=all_headers
            )
            prepared = self._session.prepare_request(request)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"Cannot encode the request for {method} {path}: {exc}. "
                "Send JSON-compatible values (text, numbers, lists, objects)."
            ) from None
        if prepared.url is None or not _same_origin(prepared.url, self.endpoint.origin):
            raise ConfigError(f"Refusing to send the token outside {self.endpoint.origin}.")
        return prepared

    def _send_once(
        self, prepared: requests.PreparedRequest, attempt: int
    ) -> Result | tuple[Failure, TimingRecord]:
        """One attempt: its Result, or its failure; either way it is in the timing log."""
        method = prepared.method or "GET"
        path = _path_below(prepared.url or "", self.endpoint.root)
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        response: requests.Response | None = None
        ttfb_ms: float | None = None
        body = b""
        data: Any = None
        failure: Failure | None = None
        try:
            with warnings.catch_warnings():
                if self._send_settings["verify"] is False:  # the user chose to accept these
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                for _ in range(_MAX_REDIRECTS + 1):
                    response = self._session.send(
                        prepared, timeout=self.policy.timeout, allow_redirects=False,
                        stream=True, **self._send_settings,
                    )
                    ttfb_ms = (time.perf_counter() - t0) * 1000.0
                    body = response.content
                    if (
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
            if failure is None:
                assert response is not None
                decoded = decode_answer(body, response, path, method)
                if isinstance(decoded, Failure):
                    failure = decoded
                else:
                    data = decoded
                    failure = check_status(
                        data, response.status_code, method, path,
                        response.headers.get("Retry-After"), redact=self._hide_token,
                    )
        except requests.RequestException as exc:
            failure = map_requests_error(exc, method, path, self.endpoint)
            if response is not None:
                response.close()
        client_ms = (time.perf_counter() - t0) * 1000.0
        status = response.status_code if response is not None else None
        record = TimingRecord.from_measurement(
            started_at=started_at,
            endpoint=self.endpoint.root,
            method=method,
            path=path,
            http_status=status,
            server_timing_header=(
                response.headers.get("Server-Timing") if response is not None else None
            ),
            client_ms=client_ms,
            ttfb_ms=ttfb_ms,
            bytes_received=len(body),
            attempt=attempt,
            outcome="ok" if failure is None else failure.kind,
        )
        self.timing_log.append(record)
        if failure is None:
            return Result(data, status or 0, method, prepared.url or "", record, attempt)
        if failure.http_status is None and status is not None:
            failure = dataclasses.replace(failure, http_status=status)
        return failure.redacted(self._hide_token), record

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
        return text.replace(self._token.reveal(), self._token.hint)


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
    fetched = sum(len(result.records) for result in pages.results)
    return pages.results[-1].continuation is not None or (
        pages.limit is not None and fetched > pages.limit
    )


def _same_origin(url: str, origin: str) -> bool:
    try:
        return normalise_endpoint(url.split("?", 1)[0], strip_api=False).origin == origin
    except ConfigError:
        return False


def _path_below(url: str, root: str) -> str:
    return url[len(root):] if url.startswith(root) else urlsplit(url).path

