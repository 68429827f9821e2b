"""End to end: `sekisho up` starts every service as its own process; requests cross real HTTP; SIGTERM stops all."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.settings import SERVICE_NAMES
from tests.conftest import require_postgres
from tests.harness import Backend, drop_schemas, new_backend

pytestmark = pytest.mark.e2e


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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


# One system per backend for the whole module (starting six processes takes seconds); the SIGTERM
# test stops it, so it stays the last test of the file.
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_url: str | None
) -> Iterator[Running]:
    tmp_path = tmp_path_factory.mktemp("up")
    if request.param == "postgres":
        require_postgres(postgres_url, request.node.nodeid)
    backend = new_backend(request.param, tmp_path, postgres_url)
    mark = uuid.uuid4().hex
    urls = {
        service: f"http://127.0.0.1:{port}"
        for service, port in zip(SERVICE_NAMES, free_ports(len(SERVICE_NAMES)), strict=True)
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env.update({f"SEKISHO_{service.upper()}_URL": url for service, url in urls.items()})
    env.update(SEKISHO_DATA_DIR=str(tmp_path / "var"), SEKISHO_E2E_MARK=mark)
    if backend.database_url:
        env.update(SEKISHO_DATABASE_URL=backend.database_url, SEKISHO_DATABASE_SCHEMA_PREFIX=backend.schema_prefix)
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sekisho.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and b"sekisho is up" not in (tmp_path / "up.log").read_bytes():
            assert process.poll() is None, (tmp_path / "up.log").read_text()
            time.sleep(0.2)
        assert b"sekisho is up" in (tmp_path / "up.log").read_bytes(), (tmp_path / "up.log").read_text()
        yield Running(process, urls, mark, backend)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in processes_marked(mark):
            os.kill(pid, signal.SIGKILL)
        log.close()
        asyncio.run(drop_schemas(backend))


@pytest.mark.req("SEC-1")
def test_one_request_goes_from_the_gateway_through_a_service_into_another(system: Running) -> None:
    response = httpx.post(
        system.urls["gateway"] + "/v1/diagnostics/auth/trace",
        json={"hops": ["notify"]},
        headers={"X-Request-ID": "e2e-trace-1"},
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


def test_sigterm_to_sekisho_up_leaves_no_service_running(system: Running) -> None:
    children = [pid for pid in processes_marked(system.mark) if pid != system.process.pid]
    assert len(children) == len(SERVICE_NAMES)
    system.process.send_signal(signal.SIGTERM)
    assert system.process.wait(timeout=30) == 0
    assert processes_marked(system.mark) == []
