"""One system for the module's tests of the public API against its /openapi.json (tests/fuzz/system.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sekisho.launcher import LaunchedSystem, launch
from sekisho.sinks import SmsSink
from tests.conftest import require_postgres
from tests.fuzz.system import Credentials, credentials, environment
from tests.harness import drop_schemas, new_backend


@dataclass
class Running:
    launched: LaunchedSystem
    sms: SmsSink
    credentials: Credentials

    @property
    def gateway(self) -> str:
        return self.launched.urls["gateway"]


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory, postgres_url: str | None) -> Iterator[Running]:
    """On PostgreSQL, as production runs (`make fuzz` and CI give SEKISHO_TEST_DATABASE_URL)."""
    url = require_postgres(postgres_url)
    tmp_path = tmp_path_factory.mktemp("fuzz")
    backend = new_backend("postgres", tmp_path, url)
    sms = SmsSink().start()
    env = {
        **environment(sms),
        "SEKISHO_DATABASE_URL": url,
        "SEKISHO_DATABASE_SCHEMA_PREFIX": backend.schema_prefix,
    }
    try:
        with launch(tmp_path, env) as launched:
            yield Running(launched, sms, credentials(launched, sms))
    finally:
        sms.stop()
        asyncio.run(drop_schemas(backend))
