"""Page sizes: the largest page each paged endpoint accepts, and the request asking for it.

A pull that stops after ``limit`` rows asks for pages of ``min(limit, maximum)``; a pull of
everything asks for the maximum, so that it takes as few calls as the API allows. A
request that already says how big its pages are is sent as it is.

The maxima (:data:`PAGE_MAXIMA`), checked against the spec by ``tests/test_paging.py``:

=========================================================== ==== =============================
endpoint                                                    max  source
=========================================================== ==== =============================
``GET /api/_private/sources/{owner}/{source_name}/comments`` 256  spec: ``limit`` is "(1-256)"
``POST /api/_private/datasets/{owner}/{dataset_name}/query`` 512  the spec sets no maximum: the
                                                                  page of the official ``re``
                                                                  client (``get comments``)
``POST /api/v1/datasets/{owner}/{dataset_name}/export``     256  spec: ``limit`` maximum 256
=========================================================== ==== =============================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["PAGE_MAXIMA", "max_page_size", "with_page_size"]

# (method, path template) -> the largest page (``limit``) the endpoint accepts.
PAGE_MAXIMA: dict[tuple[str, str], int] = {
    ("GET", "/api/_private/sources/{owner}/{source_name}/comments"): 256,
    ("POST", "/api/_private/datasets/{owner}/{dataset_name}/query"): 512,
    ("POST", "/api/v1/datasets/{owner}/{dataset_name}/export"): 256,
}

_ROUTES = [
    (method, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"), size)
    for (method, template), size in PAGE_MAXIMA.items()
]


def max_page_size(method: str, path: str) -> int | None:
    """The largest page ``method path`` accepts (``path`` below the tenant root, e.g.
    ``/api/_private/datasets/acme/triage/query``), or None when it is not known."""
    route = urlsplit(path).path.rstrip("/")
    method = method.upper()
    for known, pattern, size in _ROUTES:
        if known == method and pattern.match(route):
            return size
    return None


def with_page_size(
    method: str,
    path: str,
    params: Mapping[str, Any] | None,
    body: Any,
    limit: int | None,
) -> tuple[Mapping[str, Any] | None, Any]:
    """``params`` and ``body`` asking for the largest useful page of ``method path``.

    The page is ``min(limit, maximum)`` rows, or the maximum when ``limit`` is None; GET
    endpoints take it as the ``limit`` query parameter, POST endpoints in the JSON body.
    Unchanged when the endpoint's maximum is unknown or the request already gives a
    ``limit`` (in the query string of ``path``, in ``params`` or in the body).
    """
    maximum = max_page_size(method, path)
    if maximum is None or _gives_limit(path, params, body):
        return params, body
    size = maximum if limit is None else max(1, min(limit, maximum))
    if method.upper() in ("GET", "DELETE"):
        return {**(params or {}), "limit": size}, body
    if body is None or isinstance(body, Mapping):
        return params, {**(body or {}), "limit": size}
    return params, body


def _gives_limit(path: str, params: Mapping[str, Any] | None, body: Any) -> bool:
    return (
        "limit" in parse_qs(urlsplit(path).query)
        or (params is not None and "limit" in params)
        or (isinstance(body, Mapping) and "limit" in body)
    )
