"""How fast a notice reaches the outside: from the producer's commit to the SMS provider or the SMTP server.

The producer side is the real relay (shared.outbox.Outbox over auth's outbox table on PostgreSQL), the
receiving side the running notify process; both talk real HTTP, the SMS provider and SMTP server are
real servers on loopback. Targets (issue 3): a one-time code within 2 s, any other notice within 10 s.
Baseline: the bare HTTP round trip to the same SMS provider, measured in the same run.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.stats import Latency
from sekisho.launcher import LaunchedSystem
from sekisho.sinks import SmsSink, SmtpSink
from services.auth.models import outbox as auth_outbox
from shared.clock import SystemClock
from shared.crypto import FieldCipher, parse_keys
from shared.database import Database, target_for
from shared.identity import IdentityIssuer
from shared.internal_client import InternalClient
from shared.notifications import send_notification
from shared.outbox import Outbox
from shared.settings import ServiceSettings

ROUNDS = 200
OTP_DATA = {"code": "123456", "expires_in": 60, "operation": "withdrawal", "amount": 30000}


async def _measure(system: LaunchedSystem, sms: SmsSink, smtp: SmtpSink, env: dict[str, str]) -> str:
    settings = ServiceSettings(
        database_url=env["SEKISHO_DATABASE_URL"],
        data_keys=env["SEKISHO_DATA_KEYS"],
        notify_url=system.urls["notify"],
    )
    clock = SystemClock()
    issuer = IdentityIssuer(service="auth", key=system.identity_key("auth"), clock=clock)
    database = Database(target_for(settings, "auth"), pool_size=4)
    client = InternalClient(settings=settings, issuer=issuer)
    outbox = Outbox(
        table=auth_outbox,
        database=database,
        client=client,
        cipher=FieldCipher(parse_keys(env["SEKISHO_DATA_KEYS"])),
        clock=clock,
    )
    outbox.start()
    otp: list[float] = []
    notice: list[float] = []
    baseline: list[float] = []
    try:
        async with httpx.AsyncClient() as raw:
            for i in range(ROUNDS):
                phone = f"+8190{i:08d}"
                committed = time.time()
                async with database.transaction() as session:
                    await send_notification(
                        outbox, session, key=f"bench:otp:{time.time_ns()}", event_type="one_time_code", phone=phone,
                        channel="sms", data=OTP_DATA,
                    )  # fmt: skip
                committed = time.time()
                while not any(m.to == phone for m in sms.received):  # noqa: ASYNC110 - the sink runs in a thread
                    await asyncio.sleep(0.001)
                otp.append(next(m.received_at for m in sms.received if m.to == phone) - committed)

                address = f"bench{i}@example.jp"
                async with database.transaction() as session:
                    await send_notification(
                        outbox, session, key=f"bench:pw:{time.time_ns()}", event_type="password_changed",
                        email=address, data={"at": "2026-11-23T00:00:00+00:00"},
                    )  # fmt: skip
                committed = time.time()
                while not smtp.to(address):  # noqa: ASYNC110 - the sink runs in a thread
                    await asyncio.sleep(0.001)
                notice.append(smtp.arrival_times[[m["To"] for m in smtp.messages].index(address)] - committed)

                started = time.perf_counter()
                await raw.post(sms.url, json={"to": "+810000000000", "body": "baseline"})
                baseline.append(time.perf_counter() - started)
    finally:
        await outbox.stop()
        await client.aclose()
        await database.dispose()
    o, n, b = Latency.of(otp), Latency.of(notice), Latency.of(baseline)
    return (
        f"one-time code, commit -> SMS provider: p50 {o.p50_ms:.1f} ms, p99 {o.p99_ms:.1f} ms "
        f"(target 2000 ms; n={o.count})\n"
        f"security notice, commit -> SMTP server: p50 {n.p50_ms:.1f} ms, p99 {n.p99_ms:.1f} ms (target 10000 ms)\n"
        f"  baseline, bare POST to the SMS provider: p50 {b.p50_ms:.2f} ms, p99 {b.p99_ms:.2f} ms"
    )


def run(system: LaunchedSystem, *, env: dict[str, str], sms: SmsSink, smtp: SmtpSink) -> str:
    return asyncio.run(_measure(system, sms, smtp, env))
