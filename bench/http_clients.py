"""Which client the services call each other through: httpx against aiohttp, as shared/internal_client.py uses them.

The call pattern of the gateway: CONCURRENCY tasks share one pooled keep-alive client (the limits of
InternalClient) and POST a JSON body to auth's /internal/trace on the multi-process system, reading the whole
answer. The aiohttp side does what InternalClient._send does with it: serialize the JSON, send, read, and hand the
caller an httpx.Response. Each run measures both clients in turn (the order alternates), ROUNDS runs: calls/s and
this process's CPU per call (time.process_time: the client's own cost; auth's is the same for both).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx

from sekisho.launcher import LaunchedSystem
from shared.clock import SystemClock
from shared.identity import IdentityIssuer
from shared.middleware import IDENTITY_HEADER

ROUNDS = 5
CALLS = 3000
WARMUP = 300
CONCURRENCY = 32
BODY = {"hops": [{"service": "gateway", "at": "2026-01-01T00:00:00Z"}]}

Send = Callable[[dict[str, str]], Awaitable[httpx.Response]]


async def _drive(send: Send, headers: dict[str, str], calls: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for `calls` calls over CONCURRENCY tasks."""
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            response = await send(dict(headers))
            assert response.status_code == 200, response.text

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def _with_httpx(url: str, headers: dict[str, str]) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, connect=2.0), limits=limits) as client:

        async def send(call_headers: dict[str, str]) -> httpx.Response:
            return await client.post(url, json=BODY, headers=call_headers)

        await _drive(send, headers, WARMUP)
        return await _drive(send, headers, CALLS)


async def _with_aiohttp(url: str, headers: dict[str, str]) -> tuple[float, float]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(sock_connect=2.0, sock_read=10),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
    ) as session:

        async def send(call_headers: dict[str, str]) -> httpx.Response:
            content = json.dumps(BODY, ensure_ascii=False, separators=(",", ":")).encode()
            call_headers["Content-Type"] = "application/json"
            async with session.request("POST", url, data=content, headers=call_headers) as answer:
                body = await answer.read()
                return httpx.Response(answer.status, headers=list(answer.raw_headers), content=body)

        await _drive(send, headers, WARMUP)
        return await _drive(send, headers, CALLS)


def run(system: LaunchedSystem) -> str:
    issuer = IdentityIssuer(service="gateway", key=system.identity_key("gateway"), clock=SystemClock())
    url = system.urls["auth"] + "/internal/trace"
    clients = {"httpx": _with_httpx, "aiohttp": _with_aiohttp}
    rates: dict[str, list[float]] = {name: [] for name in clients}
    cpu_ms: dict[str, list[float]] = {name: [] for name in clients}
    lines = []
    for round_ in range(ROUNDS):
        order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
        figures = []
        for name in order:
            headers = {IDENTITY_HEADER: issuer.issue("auth")}  # one per run: its cost is the same for both
            wall, cpu = asyncio.run(clients[name](url, headers))
            rates[name].append(CALLS / wall)
            cpu_ms[name].append(cpu / CALLS * 1000)
            figures.append(f"{name} {CALLS / wall:.0f} calls/s, {cpu / CALLS * 1000:.3f} ms CPU/call")
        lines.append(f"  run {round_ + 1}: " + "; ".join(figures))
    summary = [
        f"{name}: median {statistics.median(rates[name]):.0f} calls/s, "
        f"median {statistics.median(cpu_ms[name]):.3f} ms CPU/call (client side)"
        for name in clients
    ]
    saved = statistics.median(cpu_ms["httpx"]) - statistics.median(cpu_ms["aiohttp"])
    return (
        f"inter-service calls, {CONCURRENCY} concurrent, {CALLS} per run, {ROUNDS} runs, POST JSON to auth:\n"
        + "\n".join(lines + summary)
        + f"\naiohttp saves {saved:.3f} ms CPU per call over httpx"
    )
