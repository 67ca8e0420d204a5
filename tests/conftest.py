"""Shared test fixtures: a real app over the bundled rules, with a throw-away feedback store; and
each test's group marker (`pytest -m unit|http|server|browser|build`; `postgres` besides on those that
start or use the throw-away PostgreSQL server)."""

from __future__ import annotations

import copy
import gc
import inspect
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text

from cds import BUNDLED_RULES, PROJECT_ROOT
from cds.api import create_app
from cds.config import Settings
from cds.fixtures import render_fixture
from cds.runtime import RuleRuntime
from tests.postgres import postgres_server

FIXTURES = PROJECT_ROOT / "fhir_fixtures"
# Fuzz examples per property: bounded in CI; `CDS_FUZZ_EXAMPLES=2000 make test` for a longer run.
FUZZ_EXAMPLES = int(os.environ.get("CDS_FUZZ_EXAMPLES", "25"))
SAMPLES = PROJECT_ROOT.parent / "shared" / "samples"


TESTS = Path(__file__).parent
FOLDER_GROUPS = {"service": "server", "image": "server", "browser": "browser", "deploy": "build"}
_HTTP = re.compile(r"\bclient\b|\bclients\b|TestClient|client_for|profile_client")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its group: its folder's (a started server, a browser, the build), else http
    when it calls the app over HTTP (a TestClient), else unit."""
    for item in items:
        folder = Path(str(item.path)).relative_to(TESTS).parts[0]
        group = FOLDER_GROUPS.get(folder)
        if group is None:
            uses_http = _HTTP.search(" ".join(item.fixturenames)) or _HTTP.search(_source(item))
            group = "http" if uses_http else "unit"
        item.add_marker(group)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("database_url") == "postgresql" or ("postgres" in item.fixturenames
                                                          and "database_url" not in params):
            item.add_marker("postgres")


def _source(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    try:
        return inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        return ""


@pytest.fixture(scope="session")
def runtime() -> RuleRuntime:
    return RuleRuntime(BUNDLED_RULES)


@pytest.fixture(scope="session")
def profile_runtimes() -> dict[str, RuleRuntime]:
    """The bundled rules under each shipped site profile."""
    return {name: RuleRuntime(BUNDLED_RULES, profile=name) for name in ("uk", "us")}


# A busy CI machine must not turn a clinical answer into `service.incomplete`: tests of the answer get a
# patient deadline; the deadline's own behaviour is tested with settings of its own (tests/api/test_api_errors.py).
TEST_DEADLINE_S = 20.0


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    """Settings over a throw-away data directory, with the patient test deadline unless `overrides` say."""
    return Settings(data_dir=data_dir, **{"deadline_s": TEST_DEADLINE_S, **overrides})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def settled_heap() -> Iterator[None]:
    """For tests that time the service against its deadline: what earlier tests left in this process is
    collected and frozen first, as `cds serve` freezes what it loaded at start (cds/cli.py). A full
    garbage-collector pass over the test process takes up to a second on 2 cores, about every ten seconds
    of the suite, and would otherwise land inside a measurement now and then."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _root_log_handlers() -> Iterator[None]:
    """`cds serve` run in-process (CliRunner) installs a handler on the runner's stderr, closed after the
    test: put the root logger's handlers back so later log lines do not meet a closed stream."""
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """One throw-away PostgreSQL server for the whole run."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, settings: Settings) -> str:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        return settings.feedback_url()
    return fresh_database(request.getfixturevalue("postgres"))


def fresh_database(server: str) -> str:
    """The URL of a new, empty database on the throw-away PostgreSQL server at `server`."""
    name = f"feedback_{uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.replace("/postgres?", f"/{name}?")


@pytest.fixture
def client(settings: Settings, runtime: RuleRuntime) -> TestClient:
    return TestClient(create_app(settings, runtime))


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled rules directory, for tests that edit rule files."""
    target = tmp_path / "rules"
    shutil.copytree(BUNDLED_RULES, target)
    return target


def edit_file(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in `path` (which must contain it)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_with(path: Path, text: str, after: str = "") -> int:
    """The 1-based line of the first `text` in `path` (after the first line holding `after`)."""
    lines = path.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if after in line)
    return next(index for index, line in enumerate(lines) if index >= start and text in line) + 1


def client_for(rules: Path, settings: Settings) -> TestClient:
    """A real app serving the rules in `rules`."""
    return TestClient(create_app(settings, RuleRuntime(rules)))


def fixture_request(relative: str) -> dict[str, Any]:
    return render_fixture(FIXTURES / relative)


def topics(response: Any) -> list[str]:
    return [card["source"]["topic"]["code"] for card in response.json()["cards"]]


def as_hook(request: dict, hook: str) -> dict:
    """The same clinical request sent on another order hook."""
    request = copy.deepcopy(request)
    context = request["context"]
    drafts = context.pop("draftOrders", None) or context.pop("medications")
    context.pop("selections", None)
    if hook == "medication-prescribe":
        context["medications"] = drafts
    else:
        context["draftOrders"] = drafts
    if hook == "order-select":
        context["selections"] = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts["entry"]]
    request["hook"] = hook
    return request


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """A metric's current value in the shared default registry (0 before its first count)."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture(scope="session")
def profile_client(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], TestClient]:
    """A real app over the bundled rules under a site profile (clinical-rules.md §1 rev 3, "Site profiles"):
    one RuleRuntime and one app per profile for the whole run, built on first use."""
    clients: dict[str, TestClient] = {}

    def client_for_profile(profile: str) -> TestClient:
        if profile not in clients:
            runtime = RuleRuntime(BUNDLED_RULES, profile=profile)
            settings = settings_for(tmp_path_factory.mktemp(f"data-{profile}"), profile=profile)
            clients[profile] = TestClient(create_app(settings, runtime))
        return clients[profile]

    return client_for_profile
