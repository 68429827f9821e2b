"""POST /score with 1,000,000 stored events: fraud's answer time, over real HTTP, against the multi-process system.

Setup: EVENTS events of CUSTOMERS customers over 90 days are copied straight into fraud's event table
(asyncpg COPY, with the columns intake derives), shaped like a lender's traffic: mostly logins from the
customer's own phone and home network, some failures, weekly withdrawals, a few contact changes and bank
links, and a minority of phones and networks shared by several customers. Then ROUNDS scores of withdrawals,
charges and logins of random customers, one at a time, each timed from request to answer.

Baseline in the same run: GET /healthz on fraud over the same connection (what HTTP alone costs).
The client is aiohttp, as the gateway's calls to fraud are (shared/internal_client.py): the figure is the
answer time the gateway sees.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from bench.stats import Latency
from sekisho.launcher import LaunchedSystem
from shared.clock import SystemClock
from shared.identity import IdentityIssuer
from shared.middleware import IDENTITY_HEADER

EVENTS = 1_000_000
CUSTOMERS = 50_000
ROUNDS = 2000
WARMUP = 200
TARGET_P99_MS = 5.0
COPY_BATCH = 50_000
SEED = 20261123

ASNS = ("NTT DOCOMO, INC.", "KDDI CORPORATION", "SoftBank Corp.", "NTT Communications Corporation")


def _events(now: datetime) -> list[tuple[object, ...]]:
    """EVENTS rows in the event table's column order, deterministic for the seed."""
    rng = random.Random(SEED)
    rows: list[tuple[object, ...]] = []
    per_customer = EVENTS // CUSTOMERS
    for c in range(CUSTOMERS):
        customer = f"cus_bench{c:06d}"
        phone = f"dev-{c:06d}" if rng.random() > 0.02 else f"dev-shared-{c % 300:03d}"  # 2% on mule phones
        home = f"126.{(c // 250) % 256}.{c % 250}.{rng.randint(1, 254)}"
        asn = ASNS[c % len(ASNS)]
        for i in range(per_customer):
            at = now - timedelta(days=rng.uniform(0, 90))
            roll = rng.random()
            amount = None
            bank = None
            data: dict[str, object] = {"device_key": phone}
            if roll < 0.60:
                kind, outcome = "login_succeeded", "ok"
            elif roll < 0.70:
                kind, outcome = "login_failed", "wrong_password"
            elif roll < 0.80:
                kind, outcome = "withdrawal_requested", "ok"
                amount = rng.randrange(5_000, 50_000, 1000)
            elif roll < 0.90:
                kind, outcome = "withdrawal_completed", "ok"
                amount = rng.randrange(5_000, 50_000, 1000)
            elif roll < 0.93:
                kind, outcome = "attribute_changed", "ok"
                data["attributes"] = [rng.choice(["phone", "email", "address"])]
            elif roll < 0.95:
                kind, outcome = "bank_account_linked", "ok"
                bank = f"ba-{c:06d}"
            else:
                kind, outcome = "charge_completed", "ok"
                amount = rng.randrange(1_000, 30_000, 1000)
                bank = f"ba-{c:06d}"
            network = ".".join(home.split(".")[:3]) + ".0/24"
            rows.append(
                (
                    f"evt_b{c:06d}_{i:03d}",
                    kind,
                    at,
                    at,
                    "auth",
                    customer,
                    f"dvr-{c:06d}",
                    home,
                    outcome,
                    json.dumps(data),
                    phone,
                    network,
                    "JP",
                    asn,
                    amount,
                    bank,
                )
            )
    return rows


COLUMNS = (
    "id", "type", "occurred_at", "received_at", "producer", "customer_id", "device_id", "ip", "outcome", "data",
    "device_key", "network", "country", "asn", "amount", "bank_account",
)  # fmt: skip


async def _load(url: str, schema: str) -> tuple[int, float]:
    started = time.perf_counter()
    rows = _events(datetime.now(UTC))
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for i in range(0, len(rows), COPY_BATCH):
            await conn.copy_records_to_table(
                "event", schema_name=schema, records=rows[i : i + COPY_BATCH], columns=COLUMNS
            )
        await conn.execute(f'ANALYZE "{schema}".event')
        count = await conn.fetchval(f'SELECT count(*) FROM "{schema}".event')
    finally:
        await conn.close()
    return int(count), time.perf_counter() - started


def _question(rng: random.Random) -> dict[str, object]:
    c = rng.randrange(CUSTOMERS)
    operation = rng.choice(["withdrawal", "withdrawal", "charge", "login"])
    question: dict[str, object] = {
        "operation": operation,
        "customer_id": f"cus_bench{c:06d}",
        "device_key": f"dev-{c:06d}",
        "ip": f"126.{(c // 250) % 256}.{c % 250}.7",
    }
    if operation != "login":
        question["amount"] = rng.randrange(5_000, 100_000, 1000)
        question["max_amount"] = 100_000
    if operation == "charge":
        question["bank_account"] = f"ba-{c:06d}"
    return question


async def _measure(system: LaunchedSystem, url: str) -> str:
    port = urlsplit(system.urls["fraud"]).port
    count, load_s = await _load(url, "fraud")
    issuer = IdentityIssuer(service="gateway", key=system.identity_key("gateway"), clock=SystemClock())
    rng = random.Random(SEED + 1)
    scores: list[float] = []
    inside: list[float] = []  # the service's own time, from its Server-Timing header
    health: list[float] = []
    actions: dict[str, int] = {}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(base_url=base, timeout=aiohttp.ClientTimeout(total=10)) as client:
        for i in range(WARMUP + ROUNDS):
            headers = {IDENTITY_HEADER: issuer.issue("fraud"), "Content-Type": "application/json"}
            body = json.dumps(_question(rng)).encode()
            started = time.perf_counter()
            async with client.post("/score", data=body, headers=headers) as response:
                answer = await response.read()
            elapsed = time.perf_counter() - started
            assert response.status == 200, answer
            started = time.perf_counter()
            async with client.get("/healthz") as probe:
                await probe.read()
            probe_s = time.perf_counter() - started
            assert probe.status == 200
            if i >= WARMUP:
                scores.append(elapsed)
                inside.append(float(response.headers["server-timing"].split("dur=")[1]) / 1000)
                health.append(probe_s)
                action = json.loads(answer)["action"]
                actions[action] = actions.get(action, 0) + 1
    latency, baseline, own = Latency.of(scores), Latency.of(health), Latency.of(inside)
    verdict = "met" if latency.p99_ms < TARGET_P99_MS else "NOT met"
    return (
        f"stored events: {count:,} ({CUSTOMERS:,} customers, 90 days), copied in {load_s:.1f} s\n"
        f"POST /score over HTTP, one at a time: p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms "
        f"(n={latency.count}; target p99 < {TARGET_P99_MS:.0f} ms: {verdict})\n"
        f"  of which inside fraud (Server-Timing): p50 {own.p50_ms:.2f} ms, p99 {own.p99_ms:.2f} ms, "
        f"p90 {_quantile(inside, 0.90):.2f} ms, max {max(inside) * 1000:.2f} ms\n"
        f"  baseline GET /healthz on fraud, same connection: p50 {baseline.p50_ms:.2f} ms, "
        f"p99 {baseline.p99_ms:.2f} ms\n"
        f"  answers: {', '.join(f'{k} {v}' for k, v in sorted(actions.items()))}"
    )


def _quantile(samples_s: list[float], q: float) -> float:
    ordered = sorted(samples_s)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def run(system: LaunchedSystem, *, url: str) -> str:
    return asyncio.run(_measure(system, url))
