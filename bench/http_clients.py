"""Which client the services call each other through: httpx against aiohttp, as shared/internal_client.py uses them.

The call pattern of the gateway: 1, then 32 concurrent tasks share one pooled keep-alive client (the limits of
InternalClient) and POST a JSON body to auth's /internal/trace on the multi-process system, reading the whole
answer. The aiohttp side does what InternalClient._send does with it: serialize the JSON, send, read, and hand the
caller an httpx.Response. Each run measures both clients in turn (the order alternates), ROUNDS runs: calls/s and
this process's CPU per call (time.process_time: the client's own cost; auth's is the same for both), on uvloop
as the services.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import uvloop

from sekisho.launcher import LaunchedSystem
from shared.clock import SystemClock
from shared.identity import IdentityIssuer
from shared.middleware import IDENTITY_HEADER

ROUNDS = 5
CALLS = 3000
WARMUP = 300
CONCURRENCIES = (1, 32)  # one call at a time (gateway_forward's pattern), and the gateway under load
BODY: dict[str, list[str]] = {"hops": []}  # auth answers without calling on

Send = Callable[[dict[str, str]], Awaitable[httpx.Response]]


async def _drive(send: Send, headers: dict[str, str], calls: int, concurrency: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for `calls` calls over `concurrency` tasks."""
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            response = await send(dict(headers))
            assert response.status_code == 200, response.text

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def _with_httpx(url: str, headers: dict[str, str], concurrency: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, connect=2.0), limits=limits) as client:

        async def send(call_headers: dict[str, str]) -> httpx.Response:
            return await client.post(url, json=BODY, headers=call_headers)

        await _drive(send, headers, WARMUP, concurrency)
        return await _drive(send, headers, CALLS, concurrency)


async def _with_aiohttp(url: str, headers: dict[str, str], concurrency: int) -> tuple[float, float]:
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

        await _drive(send, headers, WARMUP, concurrency)
        return await _drive(send, headers, CALLS, concurrency)


def run(system: LaunchedSystem) -> str:
    issuer = IdentityIssuer(service="gateway", key=system.identity_key("gateway"), clock=SystemClock())
    url = system.urls["auth"] + "/internal/trace"
    clients = {"httpx": _with_httpx, "aiohttp": _with_aiohttp}
    out = [f"inter-service calls: POST JSON to auth, {CALLS} per run, {ROUNDS} runs, client CPU per call"]
    for concurrency in CONCURRENCIES:
        rates: dict[str, list[float]] = {name: [] for name in clients}
        cpu_ms: dict[str, list[float]] = {name: [] for name in clients}
        for round_ in range(ROUNDS):
            order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
            figures = []
            for name in order:
                headers = {IDENTITY_HEADER: issuer.issue("auth")}  # one per run: its cost is the same for both
                # On uvloop, as the services run (uvicorn's default where it is installed).
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    wall, cpu = runner.run(clients[name](url, headers, concurrency))
                rates[name].append(CALLS / wall)
                cpu_ms[name].append(cpu / CALLS * 1000)
                figures.append(f"{name} {CALLS / wall:.0f} calls/s {cpu / CALLS * 1000:.3f} ms")
            out.append(f"  {concurrency} concurrent, run {round_ + 1}: " + "; ".join(figures))
        for name in clients:
            out.append(
                f"{concurrency} concurrent, {name}: median {statistics.median(rates[name]):.0f} calls/s, "
                f"median {statistics.median(cpu_ms[name]):.3f} ms CPU/call"
            )
        ratio = statistics.median(cpu_ms["httpx"]) / statistics.median(cpu_ms["aiohttp"])
        out.append(f"{concurrency} concurrent: httpx costs {ratio:.1f}x aiohttp's CPU per call")
    return "\n".join(out)
