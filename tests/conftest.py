"""Test configuration: the database backends every database test runs on."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from sekisho.sinks import SmsSink, SmtpSink
from tests import openapi_recorder
from tests.browser.chromium import CHROMIUM, Chromium
from tests.harness import Backend, drop_schemas, new_backend

POSTGRES_URL = os.environ.get("SEKISHO_TEST_DATABASE_URL") or None
REQUIRE_POSTGRES = os.environ.get("SEKISHO_REQUIRE_POSTGRES") == "1"
_skipped_postgres: list[str] = []
# The slow tier: `make test-slow`, which .ci/run runs after `make test` (the README's test command), so that the
# latter stays well under 15 minutes. Each of these takes tens of seconds a file: real processes and HTTP (the e2e
# and fault markers), a browser, the command-line tool as a process, the seed frauds end to end, property sequences,
# concurrency on the server, replicas of the gateway, the backtest's command.
SLOW_TIER = (
    "tests/e2e/",
    "tests/cli/",
    "tests/scenarios/",
    "tests/auth/test_passkeys_browser.py",
    "tests/ops_console/",
    "tests/txn/test_books_property.py",
    "tests/txn/test_withdrawal_concurrency.py",
    "tests/gateway/test_controls.py",
    "tests/fraud/test_backtest.py",
    "tests/security/test_data_key_rotation_procedure.py",
    "tests/fuzz/",
)
_figures: list[str] = []


@pytest.fixture(autouse=True)
def _answers_match_the_public_openapi() -> Iterator[None]:
    """A test whose gateway answered something services/gateway/openapi.json does not document fails here, naming
    the route, the status and the code (tests/openapi_recorder.py)."""
    seen = len(openapi_recorder.gaps)
    yield
    new = list(dict.fromkeys(openapi_recorder.gaps[seen:]))
    if new:
        pytest.fail(
            "answers of the gateway that its OpenAPI document does not allow (declare them on the service's route "
            "with shared/problems.py problem_responses, then `.venv/bin/sekisho openapi`):\n  " + "\n  ".join(new),
            pytrace=False,
        )


@pytest.fixture
def report_figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Adds a measured figure to the end of the test run's output (fault tests count duplicates with it)."""

    def report(line: str) -> None:
        # On the test's reports, which reach the run's summary from a pytest-xdist worker as well.
        request.node.user_properties.append(("figure", line))

    return report


def _postgres_reachable(url: str) -> str | None:
    async def probe() -> None:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    if POSTGRES_URL is None:
        if REQUIRE_POSTGRES:
            pytest.fail("SEKISHO_REQUIRE_POSTGRES=1 but SEKISHO_TEST_DATABASE_URL is not set")
        return None
    problem = _postgres_reachable(POSTGRES_URL)
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {problem}")
        return None
    return POSTGRES_URL


_NO_POSTGRES = "PostgreSQL not configured (set SEKISHO_TEST_DATABASE_URL)"


def require_postgres(postgres_url: str | None) -> str:
    if postgres_url is None:
        pytest.skip(_NO_POSTGRES)
    return postgres_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW_TIER) or item.get_closest_marker("e2e") or item.get_closest_marker("fault"):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """What the summary lists, from every test's reports (in this process or a pytest-xdist worker)."""
    if report.skipped and _NO_POSTGRES in str(report.longrepr):
        _skipped_postgres.append(report.nodeid)
    if report.when == "teardown":
        _figures.extend(f"{report.nodeid}: {line}" for name, line in report.user_properties if name == "figure")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One headless Chromium (Debian's) per test module, for the browser tests of passkeys and the ops console."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browsers` installs Debian's Chromium")
    browser = Chromium().start()
    yield browser
    browser.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None) -> AsyncIterator[Backend]:
    if request.param == "postgres":
        require_postgres(postgres_url)
    chosen = new_backend(request.param, tmp_path, postgres_url)
    try:
        yield chosen
    finally:
        await drop_schemas(chosen)


@pytest.fixture
async def postgres_backend(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> AsyncIterator[Backend]:
    """PostgreSQL alone: for what only a server with concurrent writers can show (row locks, races)."""
    chosen = new_backend("postgres", tmp_path, require_postgres(postgres_url))
    try:
        yield chosen
    finally:
        await drop_schemas(chosen)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if openapi_recorder.counted["checked"]:
        terminalreporter.write_line(
            f"openapi: {openapi_recorder.counted['checked']} answers of the gateway checked against its public "
            f"document, {len(openapi_recorder.gaps)} not documented"
        )
    if _figures:
        terminalreporter.section("figures measured by the tests")
        for line in _figures:
            terminalreporter.write_line(line)
    if _skipped_postgres:
        terminalreporter.write_line(
            f"NOTE: {len(_skipped_postgres)} PostgreSQL test(s) were skipped: PostgreSQL is not configured "
            "(set SEKISHO_TEST_DATABASE_URL, as .ci/run does).",
            yellow=True,
        )
    elif POSTGRES_URL is not None:
        terminalreporter.write_line(f"PostgreSQL tests ran against {make_url(POSTGRES_URL).render_as_string()}")


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback that keeps what it receives."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def sms() -> Iterator[SmsSink]:
    """A real HTTP SMS provider on loopback that keeps what it receives."""
    sink = SmsSink().start()
    yield sink
    sink.stop()
