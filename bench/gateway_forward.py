"""The cost of the gateway: one request through the gateway to auth, against the same request sent to auth directly.

Both are measured in the same run, interleaved, over real HTTP against the multi-process system on PostgreSQL.
"""

from __future__ import annotations

import time

import httpx

from bench.stats import Latency, report
from sekisho.launcher import LaunchedSystem, signed_in_staff
from shared.clock import SystemClock
from shared.identity import IdentityIssuer
from shared.middleware import IDENTITY_HEADER

ROUNDS = 2000
WARMUP = 200


def run(system: LaunchedSystem) -> str:
    issuer = IdentityIssuer(service="gateway", key=system.identity_key("gateway"), clock=SystemClock())
    via_gateway: list[float] = []
    direct: list[float] = []
    body = {"hops": []}
    # The trace answers admins only (the bench switches it on with SEKISHO_DIAGNOSTICS).
    admin = {"Authorization": f"Bearer {signed_in_staff(system, 'bench.admin', 'admin')}"}
    with httpx.Client(timeout=10) as client:
        for i in range(WARMUP + ROUNDS):
            started = time.perf_counter()
            response = client.post(system.urls["gateway"] + "/v1/diagnostics/auth/trace", json=body, headers=admin)
            gateway_s = time.perf_counter() - started
            assert response.status_code == 200, response.text
            headers = {IDENTITY_HEADER: issuer.issue("auth")}
            started = time.perf_counter()
            response = client.post(system.urls["auth"] + "/internal/trace", json=body, headers=headers)
            direct_s = time.perf_counter() - started
            assert response.status_code == 200, response.text
            if i >= WARMUP:
                via_gateway.append(gateway_s)
                direct.append(direct_s)
    return report("gateway -> auth", Latency.of(via_gateway), Latency.of(direct), "auth called directly")
