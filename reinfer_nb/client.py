"""The API client: one keep-alive ``requests.Session`` per login, retries, pagination.

>>> client = Client("https://acme.reinfer.io", token)          # doctest: +SKIP
>>> client.get("/api/v1/datasets").data["datasets"]            # doctest: +SKIP

Every attempt is timed and appended to ``client.timing_log`` (its own, or one passed in,
so that several clients, such as dev and prod, can share a log).
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from urllib3.util import Retry

from ._version import __version__
from .answers import check_status, decode_answer, map_requests_error
from .credentials import Token
from .endpoints import Endpoint, normalise_endpoint
from .errors import ApiError, ConfigError, NetworkError, ReinferError
from .records import find_records
from .timing import TimingLog, TimingRecord

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Client", "Result"]

log = logging.getLogger("reinfer_nb")

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
BACKOFF_SECONDS = 0.5
RETRY_AFTER_CAP = 30.0
# No new attempt starts once this many seconds have passed (Retry-After waits excepted).
RETRY_BUDGET = 20.0

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures in which the request cannot have reached the server: safe to re-send any call.
_NOT_SENT = frozenset({"refused", "connect_timeout"})
# Failures after which the request may have reached the server: re-send idempotent calls.
_MAYBE_SENT = frozenset({"read_timeout", "reset", "truncated", "connection"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class Result:
    """One successful call: the parsed JSON, the HTTP status, the URL and its timing."""

    data: Any
    http_status: int
    method: str
    url: str
    timing: TimingRecord
    attempts: int = 1

    @property
    def path(self) -> str:
        """The path and query below the tenant root."""
        return self.timing.path

    @property
    def continuation(self) -> str | None:
        """The token of the next page, if the answer has one."""
        value = self.data.get("continuation") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) and value else None

    def frame(self) -> pd.DataFrame:
        """The answer as a DataFrame (see :func:`reinfer_nb.frames.to_frame`)."""
        from .frames import to_frame

        return to_frame(self)


class Client:
    """A client of one tenant endpoint.

    ``timeout`` is per attempt (connect and read), in seconds. ``retries`` re-sends
    idempotent calls on 5xx, 429 (honouring ``Retry-After``, capped) and connection
    failures, with exponential backoff from ``backoff`` seconds; a call that may have
    reached the server is never re-sent unless it is idempotent.
    """

    def __init__(
        self,
        endpoint: str | Endpoint,
        token: str | Token | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = BACKOFF_SECONDS,
        retry_after_cap: float = RETRY_AFTER_CAP,
        retry_budget: float = RETRY_BUDGET,
        timing_log: TimingLog | None = None,
        verify: bool | str = True,
        user_agent: str | None = None,
    ) -> None:
        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else normalise_endpoint(endpoint)
        if token is None:
            raise ConfigError(
                "No API token: set REINFER_TOKEN or pass token=..., then create the client again."
            )
        self._token = Token(token)
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ConfigError("timeout must be > 0, retries and backoff >= 0.")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.retry_after_cap = float(retry_after_cap)
        self.retry_budget = float(retry_budget)
        self.timing_log = timing_log if timing_log is not None else TimingLog()
        self._closed = False
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = (
            user_agent or f"reinfer-nb/{__version__} python-requests/{requests.__version__}"
        )
        self._session.headers["Accept"] = "application/json"
        # Proxy and CA-bundle settings from the environment, computed once per client.
        settings = self._session.merge_environment_settings(
            self.endpoint.root, {}, True, verify, None
        )
        self._send_settings = {k: settings[k] for k in ("proxies", "verify", "cert")}
        self._retry_after_parser = Retry(0)

    @property
    def token(self) -> Token:
        """The token (masked in every repr and str)."""
        return self._token

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
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        started = time.monotonic()
        extra_wait = 0.0
        attempt = 1
        while True:
            try:
                return self._send_once(prepared, attempt)
            except ReinferError as err:
                err.attempts = attempt
                if attempt > self.retries or not _retryable(err, idempotent):
                    if attempt <= self.retries and _retryable(err, True):
                        _note_not_resent(err, method)
                    _note_attempts(err, attempt)
                    raise
                wait, from_header = self._wait_before_retry(attempt, err)
                if from_header:
                    extra_wait += wait
                elif time.monotonic() - started + wait > self.retry_budget + extra_wait:
                    _note_attempts(err, attempt)
                    raise
                log.info(
                    "%s %s: %s; retrying in %.2f s (attempt %d of %d)",
                    method, err.path, err.message, wait, attempt + 1, self.retries + 1,
                )
                time.sleep(wait)
                attempt += 1

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
        A failure raises after the pages already yielded; its ``page`` attribute says
        which page failed.
        """
        method = method.upper()
        query = dict(params or {})
        body = dict(json) if json is not None else ({} if method == "POST" else None)
        seen: set[str] = set()
        pages = items = 0
        while True:
            try:
                result = self.request(method, path, params=query, json=body, idempotent=idempotent)
            except ReinferError as err:
                err.page, err.items_before = pages + 1, items
                raise
            pages += 1
            records = find_records(result.data)[1]
            items += len(records)
            yield result
            token = result.continuation
            if token is None and records and isinstance(result.data.get("after"), str):
                token = result.data["after"] or None  # labellings page with `after`
            if token is None or not records and "after" in result.data:
                return
            if (max_pages is not None and pages >= max_pages) or (
                max_items is not None and items >= max_items
            ):
                return
            if token in seen:
                raise NetworkError(
                    f"Pagination did not advance on {result.path} (the same continuation came "
                    f"back after page {pages}); stopping to avoid a loop.",
                    reason="bad_protocol",
                    method=method,
                    path=result.path,
                )
            seen.add(token)
            if method in ("GET", "DELETE"):
                query["after"] = token
            else:
                body = {**(body or {}), "continuation": token}

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

    def _send_once(self, prepared: requests.PreparedRequest, attempt: int) -> Result:
        method = prepared.method or "GET"
        path = _path_below(prepared.url or "", self.endpoint.root)
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        response: requests.Response | None = None
        ttfb_ms: float | None = None
        body = b""
        data: Any = None
        error: ReinferError | None = None
        cause: BaseException | None = None
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                response = self._session.send(
                    prepared, timeout=self.timeout, allow_redirects=False, stream=True,
                    **self._send_settings,
                )
                ttfb_ms = (time.perf_counter() - t0) * 1000.0
                body = response.content
                if response.status_code not in _REDIRECTS or "Location" not in response.headers:
                    break
                prepared = self._follow_redirect(prepared, response, path)
            else:
                raise NetworkError(
                    f"{method} {path} was redirected more than {_MAX_REDIRECTS} times: check "
                    "the endpoint URL.",
                    reason="redirect",
                    http_status=response.status_code if response is not None else None,
                    method=method, path=path,
                )
            assert response is not None
            data = decode_answer(body, response, path, method)
            error = check_status(
                data, response.status_code, method, path, response.headers.get("Retry-After"),
                redact=self._hide_token,
            )
        except requests.RequestException as exc:
            error, cause = map_requests_error(exc, method, path, self.endpoint), exc
            if response is not None:
                response.close()
        except ReinferError as exc:
            error = exc
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
            outcome="ok" if error is None else error.kind,
        )
        self.timing_log.append(record)
        if error is None:
            return Result(data, status or 0, method, prepared.url or "", record, attempt)
        error.timing = record
        _redact(error, self._token)
        if error.http_status is None:
            error.http_status = status
        if response is not None:
            error.retry_after = response.headers.get("Retry-After")
        raise error from cause

    def _follow_redirect(
        self, prepared: requests.PreparedRequest, response: requests.Response, path: str
    ) -> requests.PreparedRequest:
        """Follow a redirect within this endpoint's origin; refuse any other."""
        target = requests.compat.urljoin(prepared.url or "", response.headers["Location"])
        if not _same_origin(target, self.endpoint.origin):
            raise NetworkError(
                f"{prepared.method} {path} was redirected to {urlsplit(target).netloc}, another "
                "host; not followed, so the token stays here. Check the endpoint URL.",
                reason="redirect",
                http_status=response.status_code,
                method=prepared.method,
                path=path,
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
        return new

    def _hide_token(self, text: str) -> str:
        return text.replace(self._token.reveal(), self._token.hint)

    def _wait_before_retry(self, attempt: int, err: ReinferError) -> tuple[float, bool]:
        """Seconds to wait before the next attempt, and whether Retry-After chose them."""
        header = err.retry_after
        if header:
            try:
                seconds = self._retry_after_parser.parse_retry_after(header)
            except Exception:  # noqa: BLE001 - a bad header falls back to backoff
                seconds = None
            if seconds is not None:
                return min(max(seconds, 0.0), self.retry_after_cap), True
        return self.backoff * (2 ** (attempt - 1)), False


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


def _retryable(err: ReinferError, idempotent: bool) -> bool:
    if isinstance(err, NetworkError):
        if err.reason in _NOT_SENT:
            return True
        if err.reason in _MAYBE_SENT:
            return idempotent
        return err.reason == "proxy" and idempotent and (err.http_status or 0) >= 500
    if isinstance(err, ApiError):
        status = err.http_status or 0
        return idempotent and (status == 429 or status >= 500)
    return False


def _note_not_resent(err: ReinferError, method: str) -> None:
    err.message = (
        f"{err.message} Not re-sent automatically: a {method} may already have taken effect; "
        "check before running it again."
    )
    err.args = (err.message,)


def _redact(err: ReinferError, token: Token) -> None:
    """Replace the token by its hint in an error's message and payload.

    (No local variable holds the secret: tracebacks with locals stay clean.)
    """
    if token.reveal() in err.message:
        err.message = err.message.replace(token.reveal(), token.hint)
        err.args = (err.message,)
    payload = getattr(err, "payload", None)
    if payload is not None:
        try:
            text = jsonlib.dumps(payload)
        except (TypeError, ValueError, RecursionError):
            err.payload = None  # type: ignore[attr-defined]
            return
        if token.reveal() in text:
            err.payload = jsonlib.loads(  # type: ignore[attr-defined]
                text.replace(token.reveal(), token.hint)
            )


def _note_attempts(err: ReinferError, attempts: int) -> None:
    if attempts > 1 and "attempts)" not in err.message:
        err.message = f"{err.message} (gave up after {attempts} attempts)"
        err.args = (err.message,)


def _same_origin(url: str, origin: str) -> bool:
    try:
        return normalise_endpoint(url.split("?", 1)[0], strip_api=False).origin == origin
    except ConfigError:
        return False


def _path_below(url: str, root: str) -> str:
    return url[len(root):] if url.startswith(root) else urlsplit(url).path
