from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reinfer_nb.endpoints import Endpoint, is_loopback_host, normalise_endpoint
from reinfer_nb.errors import ConfigError

CLOUD = "https://cloud.uipath.com/acme/prod/reinfer_"


@pytest.mark.parametrize(
    "pasted",
    [
        CLOUD,
        CLOUD + "/",
        CLOUD + "/api",
        CLOUD + "/api/",
        CLOUD + "/api/v1/datasets",
        "  https://CLOUD.uipath.com/acme/prod/reinfer_/api/  ",
        "cloud.uipath.com/acme/prod/reinfer_",
        "https://cloud.uipath.com/acme/prod",
    ],
)
def test_uipath_forms_normalise_to_the_tenant_root(pasted: str) -> None:
    assert normalise_endpoint(pasted).root == CLOUD


@pytest.mark.parametrize(
    "pasted",
    ["https://acme.reinfer.io", "https://acme.reinfer.io/", "https://acme.reinfer.io/api/",
     "acme.reinfer.io", "https://ACME.reinfer.io:443/api/v1/"],
)
def test_reinfer_io_forms(pasted: str) -> None:
    assert normalise_endpoint(pasted).root == "https://acme.reinfer.io"


def test_constructors() -> None:
    assert Endpoint.uipath("acme", "prod").root == CLOUD
    assert Endpoint.reinfer_io("acme").root == "https://acme.reinfer.io"
    assert Endpoint.reinfer_io("acme.reinfer.io").root == "https://acme.reinfer.io"
    with pytest.raises(ConfigError):
        Endpoint.uipath("ac/me", "prod")
    with pytest.raises(ConfigError):
        Endpoint.reinfer_io("not a domain")


def test_other_base_urls_and_loopback() -> None:
    assert normalise_endpoint("http://127.0.0.1:8000").root == "http://127.0.0.1:8000"
    assert normalise_endpoint("127.0.0.1:8000").root == "http://127.0.0.1:8000"
    assert normalise_endpoint("http://[::1]:8000/api").root == "http://[::1]:8000"
    assert normalise_endpoint("https://gateway.example.com/cm").root == "https://gateway.example.com/cm"
    assert is_loopback_host("127.5.0.1") and is_loopback_host("::1")
    assert is_loopback_host("localhost") and is_loopback_host("LOCALHOST.")
    assert not is_loopback_host("10.0.0.1")
    # Only literal loopback and "localhost": other names are whatever a resolver says.
    for name in ("app.localhost", "localhost.localhost", "127.0.0.1.nip.io", "localhost.example"):
        assert not is_loopback_host(name), name
    assert normalise_endpoint("app.localhost:8000").root == "https://app.localhost:8000"


@pytest.mark.parametrize(
    "bad, words",
    [
        ("http://acme.reinfer.io", "https"),
        ("http://10.1.2.3:8000", "https"),
        ("https://user:pw@acme.reinfer.io", "credentials"),
        ("https://acme.reinfer.io/?x=1", "query"),
        ("ftp://acme.reinfer.io", "http"),
        ("", "No endpoint"),
        ("not a url", "spaces"),
        ("acme", "not a URL"),
    ],
)
def test_refusals_say_why(bad: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        normalise_endpoint(bad)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/api/v1/datasets", "/api/v1/datasets"),
        ("api/v1/datasets", "/api/v1/datasets"),
        ("v1/datasets", "/api/v1/datasets"),
        ("_private/projects", "/api/_private/projects"),
        ("/auth/user", "/auth/user"),
        ("v1/sources?limit=5", "/api/v1/sources?limit=5"),
        ("v1/sources/dev%2Femails", "/api/v1/sources/dev%2Femails"),
        (CLOUD + "/api/v1/datasets?x=1", "/api/v1/datasets?x=1"),
    ],
)
def test_join(path: str, expected: str) -> None:
    assert Endpoint.parse(CLOUD).join(path) == CLOUD + expected


@pytest.mark.parametrize(
    "path, words",
    [
        ("https://evil.example.com/api/v1/datasets", "Refusing to send the token"),
        ("//evil.example.com/api/v1/x", "Refusing to send the token"),
        ("https://cloud.uipath.com/other/tenant/reinfer_/api/v1/x", "outside the tenant root"),
        ("/api/v1/../../admin", "leave the API root"),
        ("/api/v1/%2e%2e/x", "leave the API root"),
        ("datasets", "not an API path"),
        ("/api/v1/a b", "spaces"),
        ("/api/v1/100%", "%25"),
        ("", "empty"),
    ],
)
def test_join_refusals(path: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        Endpoint.parse(CLOUD).join(path)


@given(st.text())
def test_normaliser_raises_only_config_errors(text: str) -> None:
    try:
        endpoint = normalise_endpoint(text)
    except ConfigError:
        return
    assert endpoint.scheme in ("http", "https")
    assert not endpoint.root.endswith("/")


@given(st.text())
def test_join_raises_only_config_errors(text: str) -> None:
    endpoint = Endpoint.parse(CLOUD)
    try:
        url = endpoint.join(text)
    except ConfigError:
        return
    assert url.startswith(CLOUD + "/api") or url.startswith(CLOUD + "/auth")
