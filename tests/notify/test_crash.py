"""notify killed with SIGKILL in the middle of 1,000 deliveries and started again: every one arrives."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sekisho.launcher import free_ports
from services.notify.channels import DELIVERY_HEADER
from shared.clock import SystemClock
from shared.contracts.notifications import EventType
from shared.middleware import IDENTITY_HEADER
from tests.harness import TEST_DATA_KEYS, Backend, identity_env, identity_issuer, migrate
from tests.notify.test_delivery import request_for
from tests.servers import SmtpSink

TOTAL = 1000


def start_notify(backend: Backend, port: int, smtp_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env.update(
        SEKISHO_DATA_DIR=str(backend.data_dir),
        **identity_env("notify"),
        SEKISHO_DATA_KEYS=TEST_DATA_KEYS,
        SEKISHO_SMTP_HOST="127.0.0.1",
        SEKISHO_SMTP_PORT=str(smtp_port),
        SEKISHO_DELIVERY_LEASE_SECONDS="2",
        SEKISHO_DELIVERY_POLL_SECONDS="0.1",
        SEKISHO_DELIVERY_RETRY_BASE_SECONDS="0.1",
        SEKISHO_DELIVERY_CONCURRENCY="10",
        SEKISHO_LOG_LEVEL="WARNING",
    )
    if backend.database_url:
        env.update(SEKISHO_DATABASE_URL=backend.database_url, SEKISHO_DATABASE_SCHEMA_PREFIX=backend.schema_prefix)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "services.notify.app:create_app",
        "--port",
        str(port),
        "--no-proxy-headers",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            assert process.poll() is None, "notify exited"
            try:
                if (await client.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("notify did not start")


@pytest.mark.fault
async def test_sigkill_mid_delivery_loses_nothing_and_counts_duplicates(
    backend: Backend, tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    await migrate(backend, "notify")
    smtp = SmtpSink().start()
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "notify.log"
    process = start_notify(backend, port, smtp.port, log)
    issuer = identity_issuer("auth", SystemClock())
    retried_posts = 0
    try:
        await wait_healthy(url, process)

        async def produce(client: httpx.AsyncClient, i: int, gate: asyncio.Semaphore) -> None:
            """What an outbox relay does: send until notify has taken it, whatever happens to notify."""
            nonlocal retried_posts
            body = request_for(EventType.PASSWORD_CHANGED, key=f"crash:{i:05d}", to={"email": f"k{i}@example.jp"})
            async with gate:
                while True:
                    try:
                        response = await client.post(
                            url + "/internal/notifications",
                            json=body,
                            headers={IDENTITY_HEADER: issuer.issue("notify")},
                        )
                        if response.status_code in (200, 201):
                            return
                    except httpx.TransportError:
                        pass
                    retried_posts += 1
                    await asyncio.sleep(0.05)

        async def kill_and_restart() -> None:
            nonlocal process
            while len(smtp.messages) < TOTAL * 0.3:  # noqa: ASYNC110 - the SMTP server counts in its own thread
                await asyncio.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed_at = len(smtp.messages)
            process = start_notify(backend, port, smtp.port, log)
            await wait_healthy(url, process)
            report_figure(f"SIGKILL after {killed_at} of {TOTAL} emails had arrived")

        gate = asyncio.Semaphore(10)
        async with httpx.AsyncClient(timeout=5) as client:
            await asyncio.gather(kill_and_restart(), *(produce(client, i, gate) for i in range(TOTAL)))
        for _ in range(1200):
            if len({m[DELIVERY_HEADER] for m in smtp.messages}) >= TOTAL:
                break
            await asyncio.sleep(0.05)
        received = Counter(message["To"] for message in smtp.messages)
    finally:
        process.kill()
        process.wait()
        smtp.stop()
    duplicates = sum(received.values()) - len(received)
    report_figure(
        f"{len(received)} of {TOTAL} notifications arrived; {duplicates} duplicates; {retried_posts} posts retried"
    )
    assert set(received) == {f"k{i}@example.jp" for i in range(TOTAL)}
