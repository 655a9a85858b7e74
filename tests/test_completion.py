"""Tab completion in the magics (issue 13), through IPython's own completer in a real shell:
``shell.Completer.completions(text, cursor)``, as a notebook frontend asks for it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from IPython.core.completer import provisionalcompleter

from reinfer_nb.credentials import save_context
from reinfer_nb.live_names import LiveNames, TenantNames
from reinfer_nb.magics import get_client

from .support.shell import login, magics


def complete(ip: Any, text: str, cursor: int | None = None) -> list[str]:
    """The completions IPython offers at ``cursor`` (default: the end of ``text``)."""
    with provisionalcompleter():
        found = ip.Completer.completions(text, len(text) if cursor is None else cursor)
        return [c.text for c in found]


def names_loaded(ip: Any) -> TenantNames:
    """Fetch the tenant's names now (the completer itself never waits this long)."""
    live: LiveNames = magics(ip).live_names
    names = live.get(wait=30)
    for _ in range(300):  # bounded: a fetch started elsewhere ends within its timeout
        if names is not None and not live.loading:
            break
        time.sleep(0.05)
        names = live.get()
    assert names is not None
    return names


def test_paths_complete_from_the_spec(ip: Any) -> None:
    assert complete(ip, "%%reinfer_get /api/v1/da") == ["/api/v1/datasets"]
    assert complete(ip, "%%reinfer_get v1/da") == ["v1/datasets"]
    assert complete(ip, "%reinfer_get /api/v1/proj") == ["/api/v1/projects"]
    # In the cell's body, on the path line; POST offers only paths with a POST below.
    assert "/api/_private/datasets/{owner}/{dataset_name}/query" in complete(
        ip, "%%reinfer_post\n/api/_private/datasets/{owner}/{dataset_name}/q"
    )
    # Nothing continues it: the text itself, so that Python names (staticmethod) stay out.
    stat = "/api/v1/datasets/{owner}/{dataset_name}/stat"
    assert complete(ip, f"%%reinfer_post\n{stat}") == [stat]
    assert complete(ip, "%reinfer_api GET /api/v1/sources/{owner}/{source_name}/comments/") == [
        "/api/v1/sources/{owner}/{source_name}/comments/{comment_id}"]


def test_paths_complete_the_live_names_of_the_tenant(ip: Any, sb: Any) -> None:
    login(ip, sb)
    names = names_loaded(ip)
    projects = [p["name"] for p in get_client(ip).get("/api/v1/projects").data["projects"]]
    assert sorted(names.projects) == sorted(projects) and projects
    offered = complete(ip, "%%reinfer_get /api/v1/datasets/")
    assert offered == sorted(f"/api/v1/datasets/{name}" for name in projects)
    sources = [s["name"] for s in get_client(ip).get("/api/v1/sources/dev").data["sources"]]
    assert complete(ip, "%%reinfer_get\n/api/_private/sources/dev/") == sorted(
        f"/api/_private/sources/dev/{name}" for name in sources)
    # A user's own {variable} stands for any name: the spec's placeholders come next.
    assert complete(ip, "%%reinfer_get\n/api/_private/sources/{project}/") == [
        "/api/_private/sources/{project}/{source_name}"]


def test_names_are_fetched_again_after_a_write(ip: Any, sb: Any) -> None:
    login(ip, sb)
    names_loaded(ip)
    name = f"completion-{uuid.uuid4().hex[:8]}"
    assert complete(ip, f"%%reinfer_get /api/v1/sources/dev/{name[:12]}") == [
        f"/api/v1/sources/dev/{name[:12]}"]  # no such source yet: the text as typed
    ip.run_cell(f'%%reinfer_put\n/api/v1/sources/dev/{name}\n{{"source": {{"title": "T"}}}}')
    complete(ip, "%%reinfer_get /api/v1/sources/dev/")  # starts the new fetch
    names_loaded(ip)
    assert complete(ip, f"%%reinfer_get /api/v1/sources/dev/{name[:12]}") == [
        f"/api/v1/sources/dev/{name}"]


def test_a_dead_tenant_completes_from_the_spec(ip: Any, sb: Any) -> None:
    """The tenant accepts the names' calls and never answers: the completer gives the
    spec's templates instead of waiting (the fetch goes on in the background)."""
    login(ip, sb)
    sb.inject("hang", path=r"^/api/v1/projects$", delay_ms=8000)
    offered = complete(ip, "%%reinfer_get /api/v1/datasets/")
    assert offered == ["/api/v1/datasets/{owner}"]
    assert magics(ip).live_names.get() is None  # the names did not arrive meanwhile
    assert complete(ip, "%%reinfer_get /api/v1/da") == ["/api/v1/datasets"]


def test_options_and_their_values(ip: Any, tmp_path: Any) -> None:
    assert complete(ip, "%reinfer_login --de") == ["--demo"]  # not `delattr`
    assert complete(ip, "%reinfer_login --con") == ["--context", "--contexts-file"]
    assert complete(ip, "%%reinfer_get -o out --no") == ["--no-check-spec"]
    assert "--max-pages" in complete(ip, "%%reinfer_post --m")
    assert complete(ip, "%reinfer_timing --su") == ["--summary"]
    # --context: the names in the contexts file (REINFER_CONTEXTS_FILE, or --contexts-file).
    save_context("dev", "https://cloud.uipath.com/acme/dev-tenant/reinfer_", "t" * 20)
    save_context("prod", "https://acme.reinfer.io", "t" * 20)
    assert complete(ip, "%reinfer_login --context ") == ["dev", "prod"]
    assert complete(ip, "%reinfer_login -c p") == ["prod"]
    assert complete(ip, "%reinfer_login --org ") == ["acme"]
    assert complete(ip, "%reinfer_login --tenant ") == ["dev-tenant"]
    assert complete(ip, "%reinfer_login --domain ") == ["acme"]
    other = tmp_path / "other.json"
    save_context("staging", "https://staging.reinfer.io", "t" * 20, path=other)
    assert complete(ip, f"%reinfer_login --contexts-file {other} --context ") == ["staging"]
    shown = " ".join(complete(ip, "%reinfer_login --endpoint "))
    assert "acme.reinfer.io" in shown and "t" * 20 not in shown


def test_query_parameter_names_of_the_operation(ip: Any) -> None:
    cell = "%%reinfer_get\n/api/_private/sources/dev/x/comments\nlimit: 10\n"
    assert complete(ip, cell + "from") == ["from_timestamp"]
    assert complete(ip, cell + "inc") == ["include_markup", "include_thread_properties"]
    # Not once the value is being written; not in a POST body.
    assert "from_timestamp" not in complete(ip, cell + "from_timestamp: 20")
    assert "from_timestamp" not in complete(ip, "%%reinfer_post\n/api/v1/x\nfrom")
    assert complete(ip, "%reinfer_get /api/_private/sources/dev/x/comments li") == ["limit="]
    # The path on the magic's line: every body line is a parameter.
    assert complete(ip, "%%reinfer_delete /api/v1/sources/dev/x/comments\ni") == ["id"]


def test_elsewhere_the_completer_stays_out_of_the_way(ip: Any) -> None:
    ip.user_ns["reinfer_value"] = 1
    assert "reinfer_value" in complete(ip, "reinfer_va")
    assert "%reinfer_get" in complete(ip, "%reinfer_ge")  # IPython completes magic names
    cell = "x = 1\nreinfer_va"
    assert "reinfer_value" in complete(ip, cell)


@pytest.mark.parametrize("text", ["%%reinfer_get /api/v1/da", "%reinfer_login --de"])
def test_the_matcher_is_registered_once_and_removed_on_unload(ip: Any, text: str) -> None:
    matcher = magics(ip).matcher
    assert ip.Completer.custom_matchers.count(matcher) == 1
    ip.run_line_magic("unload_ext", "reinfer_nb")
    try:
        assert matcher not in ip.Completer.custom_matchers
        assert complete(ip, text) != (["/api/v1/datasets"] if "get" in text else ["--demo"])
    finally:
        ip.run_line_magic("load_ext", "reinfer_nb")
