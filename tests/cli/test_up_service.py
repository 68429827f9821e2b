"""`sekisho up SERVICE`, as a pod runs it: one service in the foreground of the command's own process, on
SEKISHO_HOST:SEKISHO_PORT, its JSON log lines on stdout, stopped gracefully (exit 0) by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sekisho.launcher import free_ports
from tests.conftest import require_postgres


@contextmanager
def up(tmp_path: Path, *args: str, **env: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port, url_port = free_ports(2)
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    clean.update(
        SEKISHO_DATA_DIR=str(tmp_path / "var"),
        SEKISHO_HOST="127.0.0.1",
        SEKISHO_PORT=str(port),
        # Its URL names another port (as a pod's Service URL names port 80): SEKISHO_PORT is the one it listens on.
        SEKISHO_AUTH_URL=f"http://127.0.0.1:{url_port}",
    )
    clean.update(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "sekisho.cli", "up", *args],
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # reaps it and closes its pipes


def wait_healthy(process: subprocess.Popen[str], port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("sekisho up auth never answered /healthz")


def test_up_auth_serves_on_the_configured_port_in_the_foreground_and_stops_on_sigterm(tmp_path: Path) -> None:
    with up(tmp_path, "auth") as (process, port):
        wait_healthy(process, port)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["status"] == "alive"
        # A local run migrates first (unless --no-migrate): the service is ready.
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        # Prometheus' series on the same port (loopback is in the default SEKISHO_METRICS_NETWORKS).
        assert "sekisho_http_requests_total" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        # A call without a service identity is refused, and logged (probes are not: they would drown the log).
        assert httpx.post(f"http://127.0.0.1:{port}/internal/trace", json={}, timeout=5).status_code == 401
        # In the foreground: the command's own process listens, no child of it.
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert children == []
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"sekisho is up: auth on 127.0.0.1:{port}" in stdout
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    # Its log lines are JSON on stdout (uvicorn's own too), each saying it is auth; the refused call among them.
    assert lines
    assert {line["service"] for line in lines} == {"auth"}
    assert any(line.get("path") == "/internal/trace" and line.get("status") == 401 for line in lines), lines
    # uvicorn's graceful shutdown ran the app's own (the lifespan's end), not a kill.
    assert any("shutdown" in line["message"].lower() for line in lines), lines
    assert not any(line.startswith("{") for line in stderr.splitlines())


def test_up_auth_no_migrate_starts_unmigrated(tmp_path: Path) -> None:
    """--no-migrate (production's default: the migrate Job does it): alive, but not ready until migrated."""
    with up(tmp_path, "auth", "--no-migrate") as (process, port):
        wait_healthy(process, port)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503, ready.text
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_sekisho_port_with_several_services_is_refused(tmp_path: Path) -> None:
    with up(tmp_path, "auth", "kyc", "--no-migrate") as (process, _port):
        _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "SEKISHO_PORT is one service's port" in stderr


def production_env(database_url: str, schema_prefix: str) -> dict[str, str]:
    """What a pod of auth gets in production (deploy/: the ConfigMap and its Secrets), on a fresh schema prefix."""
    from shared.crypto import new_key_spec
    from shared.identity_keys import new_identity_key, public_keys_json
    from shared.tokens import new_signing_key

    keys = {service: new_identity_key()[0] for service in ("gateway", "auth", "kyc", "txn", "fraud", "notify")}
    return {
        "SEKISHO_ENV": "prod",
        "SEKISHO_DATABASE_URL": database_url,
        "SEKISHO_DATABASE_SCHEMA_PREFIX": schema_prefix,
        "SEKISHO_DATA_KEYS": new_key_spec("k1"),
        "SEKISHO_BLIND_INDEX_KEY": new_key_spec("bi1"),
        "SEKISHO_AUDIT_CHAIN_KEY": secrets.token_urlsafe(32),
        "SEKISHO_AUTH_SIGNING_KEYS": new_signing_key()[0],
        "SEKISHO_IDENTITY_KEY": keys["auth"],
        "SEKISHO_IDENTITY_PUBLIC_KEYS": public_keys_json(keys),
        "SEKISHO_WEBAUTHN_RP_ID": "example.jp",
        "SEKISHO_WEBAUTHN_ORIGINS": '["https://app.example.jp"]',
    }


async def _schemas(database_url: str, prefix: str) -> list[str]:
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", prefix + "%")
        for row in rows:
            await conn.execute(f'DROP SCHEMA "{row["nspname"]}" CASCADE')
        return [row["nspname"] for row in rows]
    finally:
        await conn.close()


@pytest.mark.postgres
def test_production_up_of_one_service_never_migrates_unless_asked(tmp_path: Path, postgres_url: str | None) -> None:
    """A pod (SEKISHO_ENV=prod) starts without touching the schema: alive, but not ready until the migrate Job ran;
    with --migrate it migrates first (and is ready)."""
    url = require_postgres(postgres_url)
    prefix = f"t{secrets.token_hex(4)}_"
    env = production_env(url, prefix)
    with up(tmp_path, "auth", **env) as (process, port):
        wait_healthy(process, port)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503, ready.text
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert asyncio.run(_schemas(url, prefix)) == []  # nothing was created: no migration ran
    with up(tmp_path, "auth", "--migrate", **env) as (process, port):
        wait_healthy(process, port)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
    assert asyncio.run(_schemas(url, prefix)) == [prefix + "auth"]  # migrated (and now dropped)
    # Production generated no key anywhere.
    assert not (tmp_path / "var").exists() or not any((tmp_path / "var").rglob("dev-*"))
