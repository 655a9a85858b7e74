"""The API owner's published specifications, shipped as they were published.

* ``reinfer-v1.openapi-v3.1.json``: OpenAPI 3.1 (157 paths, 211 operations), the contract
  that drives the sandbox's routing and the client's API index;
* ``reinfer-v1.swagger2.json``: an older Swagger 2.0 subset (the Power Automate connector).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["OPENAPI_FILE", "SWAGGER_FILE", "openapi"]

OPENAPI_FILE = "reinfer-v1.openapi-v3.1.json"
SWAGGER_FILE = "reinfer-v1.swagger2.json"


@cache
def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document, parsed once per process (treat it as read-only)."""
    text = resources.files(__name__).joinpath(OPENAPI_FILE).read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]
