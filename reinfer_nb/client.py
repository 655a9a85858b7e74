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

import contextvars
import dataclasses
import itertools
import logging
import time
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from importlib.metadata import version
from typing import Any
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
from .request import KEEP_BODY_BYTES, Request
from .results import Pages, Result
from .retry import RetryPolicy
from .timing import TimingLog, TimingRecord

__all__ = ["Client", "Pages", "Result", "RetryPolicy"]

log = logging.getLogger("reinfer_nb")

_REQUESTS_VERSION = version("requests")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
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
        ca_bundle = self._send_settings["verify"]
        # What a curl command must repeat to reach the same place (Request.curl).
        self._curl_transport = {
            "insecure": ca_bundle is False,
            "ca_bundle": ca_bundle if isinstance(ca_bundle, str) else None,
            "proxy": proxy if self.endpoint.scheme == "https" else None,
            "no_proxy": self.endpoint.scheme == "http",
        }

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

    @property
    def timeout(self) -> float:
        return self.policy.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.policy = self.policy.replace(timeout=value)

    @property
    def retries(self) -> int:
        return self.policy.retries

    @retries.setter
    def retries(self, value: int) -> None:
        self.policy = self.policy.replace(retries=value)

    @property
    def backoff(self) -> float:
        return self.policy.backoff

    @backoff.setter
    def backoff(self, value: float) -> None:
        self.policy = self.policy.replace(backoff=value)

    @property
    def retry_after_cap(self) -> float:
        return self.policy.retry_after_cap

    @retry_after_cap.setter
    def retry_after_cap(self, value: float) -> None:
        self.policy = self.policy.replace(retry_after_cap=value)

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
        prepared = self._prepare(method.upper(), path, params, json, headers)
        return self._describe(prepared)

    def _describe(
        self, prepared: requests.PreparedRequest, keep_body: int | None = None
    ) -> Request:
        return Request.from_prepared(
            prepared, token_hint=self._token.hint, secret=self._token.reveal(),
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
        pull = next(_PULL_IDS)  # the timing log groups this pull's pages by it
        while True:
            marker = _PAGE.set((pull, pages + 1))
            try:
                result = self.request(method, path, params=query, json=body, idempotent=idempotent)
            except (ApiError, NetworkError) as err:
                raise PaginationError(err, page=pages + 1, rows=items) from err
            finally:
                _PAGE.reset(marker)
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

        Stops after ``limit`` rows or ``max_pages`` pages (``Pages.has_more`` then says
        whether the server had more). A failure midway does not raise: ``Pages.error``
        holds it and the pages before it are kept. Ctrl-C raises
        :class:`~reinfer_nb.errors.FetchInterrupted`, whose ``pages`` keeps what was
        fetched. ``progress`` shows a progress bar (tqdm) while it runs.
        """
        from .frames import paused_gc
        from .progress import RowProgress

        method = method.upper()
        pages = Pages(method, path, limit=limit)
        bar = RowProgress(f"{method} {path}", total=limit, enabled=progress)
        try:
            with paused_gc():  # a bulk pull decodes millions of small objects
                for result in self.paginate(
                    method, path, params=params, json=json, max_pages=max_pages,
                    max_items=limit,
                ):
                    pages.results.append(result)
                    bar.update(pages.rows)
        except PaginationError as err:
            pages.error = err
        except KeyboardInterrupt:
            pages.interrupted = True
            bar.close(finished=False)
            raise FetchInterrupted(pages) from None
        bar.close(finished=pages.complete)
        if pages.complete and pages.results:
            fetched = sum(len(result.records) for result in pages.results)
            pages.has_more = pages.results[-1].continuation is not None or (
                limit is not None and fetched > limit
            )
        return pages

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
        sent = self._describe(prepared, KEEP_BODY_BYTES)  # to rebuild it later, no token
        page = _PAGE.get()
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
            request=sent,
            pull=page[0] if page is not None else None,
            page=page[1] if page is not None else None,
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


def _same_origin(url: str, origin: str) -> bool:
    try:
        return normalise_endpoint(url.split("?", 1)[0], strip_api=False).origin == origin
    except ConfigError:
        return False


def _path_below(url: str, root: str) -> str:
    return url[len(root):] if url.startswith(root) else urlsplit(url).path

