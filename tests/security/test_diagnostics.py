"""Issue 13 item 10: the diagnostics trace was anonymous and on by default. Off by default; admins only when on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from tests.auth.conftest import SIGNING_KEY, open_account
from tests.auth.test_api_login import full_login
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import Backend, System, in_process_system

TRACE = "/v1/diagnostics/auth/trace"
HOPS = {"hops": ["notify"]}


def overrides(smtp: SmtpSink, sms: SmsSink, **gateway: Any) -> dict[str, dict[str, Any]]:
    return {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
        "gateway": gateway,
    }


async def bearer(system: System, login_id: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await staff_token(system, await make_staff(system, login_id, role))}"}


async def test_the_trace_is_not_served_by_default(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> None:
    """Before: 200 to anyone, with the services' names, callers and databases."""
    async with in_process_system(backend, overrides(smtp, sms), clock=FrozenClock(datetime.now(UTC))) as system:
        anonymous = await system.gateway.post(TRACE, json=HOPS)
        assert (anonymous.status_code, anonymous.json()["code"]) == (404, "not_found")
        admin = await system.gateway.post(TRACE, json=HOPS, headers=await bearer(system, "admin.mori", "admin"))
        assert (admin.status_code, admin.json()["code"]) == (404, "not_found")


async def test_when_switched_on_only_admins_may_trace(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> None:
    """Before (on by default): 200 to an anonymous caller, a customer and any staff member."""
    settings = overrides(smtp, sms, diagnostics=True)
    async with in_process_system(backend, settings, clock=FrozenClock(datetime.now(UTC))) as system:
        anonymous = await system.gateway.post(TRACE, json=HOPS)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
        await open_account(system.gateway)
        customer = await full_login(system, sms)
        as_customer = await system.gateway.post(
            TRACE, json=HOPS, headers={"Authorization": f"Bearer {customer['access_token']}"}
        )
        assert as_customer.status_code == 401
        analyst = await system.gateway.post(TRACE, json=HOPS, headers=await bearer(system, "analyst.ito", "analyst"))
        assert (analyst.status_code, analyst.json()["code"]) == (403, "forbidden")
        supervisor = await system.gateway.post(TRACE, json=HOPS, headers=await bearer(system, "sup.abe", "supervisor"))
        assert supervisor.status_code == 403
        admin = await system.gateway.post(TRACE, json=HOPS, headers=await bearer(system, "admin.mori", "admin"))
        assert admin.status_code == 200, admin.text
        assert (admin.json()["caller"], admin.json()["next"]["service"]) == ("gateway", "notify")
