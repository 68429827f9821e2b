"""End to end: `sekisho up` starts every service as its own process; requests cross real HTTP; SIGTERM stops all."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sekisho.launcher import LaunchedSystem, launch, signed_in_staff
from shared.clock import SystemClock
from shared.identity import IdentityIssuer
from shared.middleware import IDENTITY_HEADER
from shared.settings import SERVICE_NAMES
from tests.conftest import require_postgres
from tests.harness import Backend, drop_schemas, new_backend

pytestmark = pytest.mark.e2e


def processes_marked(mark: str) -> list[int]:
    """Every live process whose environment carries this run's mark."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"SEKISHO_E2E_MARK={mark}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    urls: dict[str, str]
    mark: str
    backend: Backend
    launched: LaunchedSystem


# One system per backend for the whole module (starting six processes takes seconds); the SIGTERM
# test stops it, so it stays the last test of the file.
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_url: str | None
) -> Iterator[Running]:
    tmp_path = tmp_path_factory.mktemp("up")
    if request.param == "postgres":
        require_postgres(postgres_url)
    backend = new_backend(request.param, tmp_path, postgres_url)
    mark = uuid.uuid4().hex
    # The trace is off by default (and for admins only): this system switches it on.
    env = {"SEKISHO_E2E_MARK": mark, "SEKISHO_DIAGNOSTICS": "true"}
    if backend.database_url:
        env.update(SEKISHO_DATABASE_URL=backend.database_url, SEKISHO_DATABASE_SCHEMA_PREFIX=backend.schema_prefix)
    try:
        with launch(tmp_path, env) as launched:
            yield Running(launched.process, launched.urls, mark, backend, launched)
    finally:
        for pid in processes_marked(mark):
            os.kill(pid, signal.SIGKILL)
        asyncio.run(drop_schemas(backend))


@pytest.mark.req("SEC-1")
def test_one_request_goes_from_the_gateway_through_a_service_into_another(system: Running) -> None:
    trace = system.urls["gateway"] + "/v1/diagnostics/auth/trace"
    anonymous = httpx.post(trace, json={"hops": ["notify"]}, timeout=10)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    response = httpx.post(
        trace,
        json={"hops": ["notify"]},
        headers={
            "X-Request-ID": "e2e-trace-1",
            "Authorization": f"Bearer {signed_in_staff(system.launched, 'admin.trace', 'admin')}",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["service"], body["caller"], body["request_id"]) == ("auth", "gateway", "e2e-trace-1")
    assert (body["next"]["service"], body["next"]["caller"], body["next"]["request_id"]) == (
        "notify",
        "auth",
        "e2e-trace-1",
    )
    expected = "sqlite" if system.backend.database_url is None else "postgresql"
    assert body["database"] == body["next"]["database"] == expected


def test_every_service_is_ready_with_its_own_database(system: Running) -> None:
    for service, url in system.urls.items():
        response = httpx.get(url + "/readyz", timeout=5)
        assert response.status_code == 200, (service, response.text)
        database = response.json()["database"]
        assert database["ok"] is True
        if system.backend.database_url:
            assert database["schema"] == system.backend.schema_prefix + service


@pytest.mark.req("SEC-1")
def test_a_service_called_directly_without_identity_answers_401(system: Running) -> None:
    for service in ("auth", "kyc", "txn", "fraud", "notify"):
        response = httpx.post(system.urls[service] + "/internal/trace", json={"hops": []}, timeout=5)
        assert response.status_code == 401
        assert response.json()["code"] == "service_identity_required"


def test_each_process_has_its_own_key_and_one_cannot_speak_as_the_gateway(system: Running) -> None:
    admin = {"subject": "stf_forged", "subject_type": "staff", "role": "admin", "session_id": "ses_forged"}
    keys = {service: system.launched.identity_key(service) for service in SERVICE_NAMES}
    assert len(set(keys.values())) == len(SERVICE_NAMES)
    url = system.urls["auth"] + "/v1/ops/customers/cus_anyone"
    as_gateway_with_frauds_key = IdentityIssuer(service="gateway", key=keys["fraud"], clock=SystemClock())
    forged = httpx.get(url, headers={IDENTITY_HEADER: as_gateway_with_frauds_key.issue("auth", admin)}, timeout=5)
    assert forged.status_code == 401
    assert forged.json()["code"] == "service_identity_invalid"
    frauds_own = IdentityIssuer(service="fraud", key=keys["fraud"], clock=SystemClock()).issue("auth", admin)
    assert httpx.get(url, headers={IDENTITY_HEADER: frauds_own}, timeout=5).status_code == 401
    genuine = IdentityIssuer(service="gateway", key=keys["gateway"], clock=SystemClock()).issue("auth", admin)
    assert httpx.get(url, headers={IDENTITY_HEADER: genuine}, timeout=5).status_code == 404  # past every check


def test_sigterm_to_sekisho_up_leaves_no_service_running(system: Running) -> None:
    children = [pid for pid in processes_marked(system.mark) if pid != system.process.pid]
    assert len(children) == len(SERVICE_NAMES)
    system.process.send_signal(signal.SIGTERM)
    assert system.process.wait(timeout=30) == 0
    assert processes_marked(system.mark) == []
