"""Every staff read of customer data is in the audit trail, naming the customers read (SEC-6): one test over the
gateway's route table, so that a staff GET route added later without its audit entry (or without a line here)
fails it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sekisho.sinks import SmsSink, SmtpSink
from services.auth import models as auth_models
from services.fraud import incidents
from services.fraud import models as fraud_models
from services.gateway.routes import PUBLIC_ROUTES, Route
from services.txn import models as txn_models
from services.txn.disputes import DESCRIPTION_CONTEXT
from shared.clock import FrozenClock
from shared.ids import new_id
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import Backend, System, in_process_system
from tests.kyc.conftest import KYC, SIGNING_KEY, ekyc_body, signed_in, start
from tests.servers import eventually_async

Headers = dict[str, str]

# Staff GET routes that return no customer's data, and why; every other staff GET route must be in READS below.
NO_CUSTOMER_DATA = {
    "/v1/ops/fraud/trends",  # counts per hour and type: no customer is named (MON-1)
    "/v1/ops/auth/passkeys",  # the caller's own passkeys (audited anyway)
    "/v1/ops/fraud/indicators",  # IPs, device digests and bank accounts to share: never a customer (audited anyway)
    "/v1/ops/fraud/rule-sets",  # the rules themselves
    "/v1/ops/fraud/rule-sets/{version}",
    "/v1/ops/fraud/rules/library",
    "/v1/ops/banks/suspensions",  # banks staff suspended, no customer
    "/v1/ops/incidents",  # titles, kinds, statuses and counts of customers, none named
    "/v1/ops/incidents/{incident_id}/reports/{kind}",  # report drafts: counts and amounts, no customer named
    "/v1/ops/incidents/{incident_id}/recurrence-prevention",  # what staff decided to change
    "/v1/ops/incidents/{incident_id}/training-material",
}

# For each staff GET route that shows customer data: the audit action its read is recorded under, and the request
# (path parameters and query filled from the test's world) that makes it show the world's customer.
READS: dict[str, dict[str, Any]] = {
    "/v1/ops/customers/{customer_id}": {"action": "customer.view"},
    "/v1/ops/audit": {"action": "audit.search", "params": {"customer_id": "{customer_id}"}},
    "/v1/ops/disputes": {"action": "dispute.list", "params": {"customer_id": "{customer_id}"}},
    "/v1/ops/disputes/{dispute_id}": {"action": "dispute.view"},
    "/v1/ops/credit-information": {"action": "credit_information.view", "params": {"customer_id": "{customer_id}"}},
    "/v1/ops/notifications": {"action": "notifications.search", "params": {"customer_id": "{customer_id}"}},
    "/v1/ops/notifications/{notification_id}": {"action": "notification.view"},
    "/v1/ops/kyc/verifications": {"action": "kyc.list"},
    "/v1/ops/kyc/verifications/{verification_id}": {"action": "kyc.view"},
    "/v1/ops/fraud/events": {"action": "fraud_events.search", "params": {"customer_id": "{customer_id}"}},
    "/v1/ops/fraud/lists/{list}/entries": {"action": "fraud_list.view"},
    "/v1/ops/fraud/cases": {"action": "fraud_case.list"},
    "/v1/ops/fraud/cases/{case_id}": {"action": "fraud_case.view"},
    "/v1/ops/fraud/suppressions": {"action": "fraud_suppression.list"},
    "/v1/ops/incidents/{incident_id}": {"action": "incident.view"},  # its timeline names a containment's failures
    "/v1/ops/incidents/{incident_id}/customers": {"action": "incident.customers"},
    "/v1/ops/inquiries": {"action": "inquiry.list", "params": {"customer_id": "{customer_id}"}},
    "/v1/ops/inquiries/{inquiry_id}": {"action": "inquiry.view"},  # with the customer's events, cases, entries
}


def staff_reads() -> list[Route]:
    return [route for route in PUBLIC_ROUTES if route.caller == "staff" and route.method == "GET"]


def test_every_staff_read_is_either_audited_here_or_listed_as_showing_no_customer() -> None:
    paths = {route.path for route in staff_reads()}
    assert paths - READS.keys() - NO_CUSTOMER_DATA == set(), "a staff GET route with no audit test: add it to READS"
    assert READS.keys() & NO_CUSTOMER_DATA == set()
    assert (READS.keys() | NO_CUSTOMER_DATA) - paths == set(), "a route listed here is no longer in the table"


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": KYC,
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


async def _staff(system: System, login_id: str, role: str) -> tuple[str, Headers]:
    token = await staff_token(system, await make_staff(system, login_id, role))
    async with system.apps["auth"].state.service.database.transaction() as session:
        s = auth_models.staff
        staff_id = (await session.execute(select(s.c.id).where(s.c.login_id == login_id))).scalar_one()
    return staff_id, {"Authorization": f"Bearer {token}"}


async def _world(system: System, sms: SmsSink, supervisor: Headers) -> dict[str, str]:
    """One customer with something in every service: a sign-in (fraud's events, notify's notice), a KYC case, a
    dispute, a fraud case, an incident, an inquiry at the desk, a deny-list entry and a suppression."""
    customer = await signed_in(system, sms)
    started = await start(system, customer, ekyc_body())
    assert started.status_code in (201, 202), started.text
    verification_id = started.json()["verification_id"]
    async with system.apps["auth"].state.service.database.transaction() as session:
        c = auth_models.customer
        customer_id = (await session.execute(select(c.c.id))).scalar_one()
    now = system.clock.now()
    txn = system.apps["txn"].state.service
    dispute_id = new_id("dsp")
    async with txn.database.transaction() as session:
        await session.execute(
            txn_models.dispute.insert().values(
                id=dispute_id, customer_id=customer_id, status="open", channel="desk", opened_by="stf_x",
                description=txn.cipher.seal("電話で受付", context=DESCRIPTION_CONTEXT), created_at=now, updated_at=now,
            )
        )  # fmt: skip
    case_id = new_id("cas")
    async with system.apps["fraud"].state.service.database.transaction() as session:
        await session.execute(
            fraud_models.case.insert().values(
                id=case_id, opened_at=now, status="open", operation="withdrawal", customer_id=customer_id,
                device_id=None, ip="192.0.2.10", score=90, reasons="[]", actions="[]",
            )
        )  # fmt: skip
        incident = await incidents.open_incident(
            session, title="不正ログインの集中", kind="unauthorized_access", summary="同一IPから複数顧客へ",
            detected_at=now, occurred_at=None, staff_id="stf_x", now=now,
        )  # fmt: skip
        await session.execute(
            fraud_models.incident_customer.insert().values(
                incident_id=incident.id, customer_id=customer_id, source="list", added_at=now, added_by="stf_x",
                status="failed", failure="auth unreachable",
            )
        )  # fmt: skip
        await incidents.append_entry(
            session, incident.id, kind="action", text="封じ込め: 1 件失敗", at=now, staff_id="stf_x", now=now,
            data={"failed": 1, "failed_customers": [customer_id]},
        )  # fmt: skip
        await session.execute(
            fraud_models.suppression.insert().values(
                id=new_id("sup"), rule_id="velocity", entity_type="customer", entity_value=customer_id,
                until=now + timedelta(days=1), note="known traveller", created_by="stf_x", created_at=now,
            )
        )  # fmt: skip
    listed = await system.gateway.put(
        "/v1/ops/fraud/lists/customers/entries", json={"value": customer_id, "note": "mule"}, headers=supervisor
    )
    assert listed.status_code in (200, 201), listed.text
    inquiry = await system.gateway.post(
        "/v1/ops/inquiries",
        json={"customer_id": customer_id, "channel": "phone", "caller": "customer", "summary": "身に覚えのない出金"},
        headers=supervisor,
    )
    assert inquiry.status_code == 201, inquiry.text

    async def notified() -> bool:
        found = await system.gateway.get(
            "/v1/ops/notifications", params={"customer_id": customer_id}, headers=supervisor
        )
        return found.status_code == 200 and len(found.json()) > 0

    await eventually_async(notified)
    found = await system.gateway.get("/v1/ops/notifications", params={"customer_id": customer_id}, headers=supervisor)
    return {
        "customer_id": customer_id,
        "verification_id": verification_id,
        "dispute_id": dispute_id,
        "case_id": case_id,
        "incident_id": incident.id,
        "inquiry_id": inquiry.json()["id"],
        "notification_id": found.json()[0]["id"],
        "list": "customers",
    }


@pytest.mark.req("SEC-6")
async def test_every_staff_read_of_customer_data_is_in_the_trail_naming_the_customer_within_seconds(
    system: System, sms: SmsSink
) -> None:
    staff = {role: await _staff(system, f"{role}.reads", role) for role in ("analyst", "supervisor", "admin")}
    world = await _world(system, sms, staff["supervisor"][1])
    customer_id = world["customer_id"]
    # The test reads the trail as an admin of its own: its searches are not the reads under test.
    _, auditor = await _staff(system, "admin.auditor", "admin")

    async def entries_about(actor: str) -> list[dict[str, Any]]:
        trail = await system.gateway.get(
            "/v1/ops/audit", params={"customer_id": customer_id, "actor": actor, "limit": "1000"}, headers=auditor
        )
        assert trail.status_code == 200, trail.text
        entries: list[dict[str, Any]] = trail.json()["entries"]
        return entries

    routes = [route for route in staff_reads() if route.path in READS]
    assert len(routes) == len(READS)
    before = {staff_id: {e["entry_id"] for e in await entries_about(staff_id)} for staff_id, _ in staff.values()}
    for route in routes:
        _, headers = staff[route.role or "analyst"]
        path = route.path.format(**world)
        params = {name: value.format(**world) for name, value in READS[route.path].get("params", {}).items()}
        response = await system.gateway.get(path, params=params, headers=headers)
        assert response.status_code == 200, f"{route.path}: {response.text}"
        assert customer_id in response.text, f"{route.path} did not show the customer: the test shows nothing"

    def expected(route: Route) -> tuple[str, str, str]:
        return staff[route.role or "analyst"][0], route.service, READS[route.path]["action"]

    async def missing() -> list[str]:
        """The routes whose read has no new entry naming the customer, by the staff member, service and action."""
        found: set[tuple[str, str, str]] = set()
        for staff_id, _ in staff.values():
            found |= {
                (staff_id, e["service"], e["action"])
                for e in await entries_about(staff_id)
                if e["entry_id"] not in before[staff_id]
            }
        return [route.path for route in routes if expected(route) not in found]

    async def all_recorded() -> bool:
        return not await missing()

    try:
        await eventually_async(all_recorded, within=5.0)
    except AssertionError:
        pytest.fail(f"staff reads of customer data without an audit entry naming the customer: {await missing()}")
