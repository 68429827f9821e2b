"""`sekisho partner create|rotate|revoke` manage partner ATM networks' keys; the gateway accepts what they print."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from services.gateway.app import create_app
from tests.gateway.partner_client import sign
from tests.harness import TEST_DATA_KEYS, Backend, client_for, migrate, new_backend, running

BODY = b'{"ping": 1}'


def environment(backend: Backend) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env.update(SEKISHO_DATA_DIR=str(backend.data_dir), SEKISHO_DATA_KEYS=TEST_DATA_KEYS)
    if backend.database_url is not None:
        env.update(SEKISHO_DATABASE_URL=backend.database_url, SEKISHO_DATABASE_SCHEMA_PREFIX=backend.schema_prefix)
    return env


async def sekisho(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "sekisho.cli", "partner", *args],
        env=environment(backend),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def printed(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


async def ping(client: httpx.AsyncClient, credentials: dict[str, Any]) -> httpx.Response:
    headers = sign(
        "POST",
        "http://testserver/v1/atm/ping",
        BODY,
        key_id=credentials["key_id"],
        secret=credentials["secret"],
        created=int(time.time()),
    )
    return await client.post("/v1/atm/ping", content=BODY, headers=headers)


async def test_keys_made_by_the_cli_sign_requests_until_rotated_out_or_revoked(backend: Backend) -> None:
    await migrate(backend, "gateway")
    created = printed(await sekisho(backend, "create", "lawson-atm", "--allow", "127.0.0.0/8", "--json"))
    assert set(created) == {"partner_id", "key_id", "secret"}
    assert len(base64.urlsafe_b64decode(created["secret"] + "=" * (-len(created["secret"]) % 4))) == 32

    again = await sekisho(backend, "create", "lawson-atm", "--json")
    assert again.returncode == 1
    assert "exists already" in again.stderr

    app = create_app(backend.settings("gateway", public_origins="http://testserver"))  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        response = await ping(client, created)
        assert response.status_code == 200, response.text
        assert response.json() == {"partner": "lawson-atm", "key_id": created["key_id"]}

        rotated = printed(await sekisho(backend, "rotate", "lawson-atm", "--overlap-hours", "1", "--json"))
        assert rotated["key_id"] != created["key_id"]
        assert rotated["old_key_ids"] == [created["key_id"]]
        assert (await ping(client, created)).status_code == 200
        assert (await ping(client, rotated)).json()["key_id"] == rotated["key_id"]

        revoked = printed(await sekisho(backend, "revoke", "lawson-atm", "--key", created["key_id"], "--json"))
        assert revoked["revoked_key_ids"] == [created["key_id"]]
        assert (await ping(client, created)).json()["reason"] == "key_revoked"
        assert (await ping(client, rotated)).status_code == 200

        everything = await sekisho(backend, "revoke", "lawson-atm")
        assert everything.returncode == 0, everything.stderr
        assert "disabled" in everything.stdout
        refused = await ping(client, rotated)
        assert (refused.status_code, refused.json()["code"]) == (401, "signature_invalid")


async def test_the_cli_refuses_an_unmigrated_database_and_a_bad_network(tmp_path: Path) -> None:
    backend = new_backend("sqlite", tmp_path, None)
    unmigrated = await sekisho(backend, "create", "family-atm", "--json")
    assert unmigrated.returncode == 1
    assert "sekisho migrate gateway" in unmigrated.stderr
    await migrate(backend, "gateway")
    ambiguous = await sekisho(backend, "create", "family-atm", "--allow", "10.0.0.1/8")
    assert ambiguous.returncode == 1
    assert "10.0.0.1/8" in ambiguous.stderr
    unknown = await sekisho(backend, "rotate", "nobody")
    assert unknown.returncode == 1
    assert "No partner is named 'nobody'" in unknown.stderr
