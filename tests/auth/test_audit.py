"""The staff audit trail (SEC-6): every staff action and every read of customer data, with who, what, when."""

from __future__ import annotations

from typing import Any

import pytest

from shared.audit import Actor, audit_entry
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import open_account
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import System, client_for, identity_issuer
from tests.servers import eventually_async


async def _bearer(system: System, login_id: str, role: str) -> tuple[str, dict[str, str]]:
    created = await make_staff(system, login_id, role)
    token = await staff_token(system, created)
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        from sqlalchemy import select

        from services.auth import models

        staff_id = (
            await session.execute(select(models.staff.c.id).where(models.staff.c.login_id == login_id))
        ).scalar_one()
    return staff_id, {"Authorization": f"Bearer {token}"}


async def _trail(system: System, admin: dict[str, str], **filters: str) -> list[dict[str, Any]]:
    response = await system.gateway.get("/v1/ops/audit", params=filters, headers=admin)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


@pytest.mark.req("SEC-6")
async def test_a_staff_read_of_a_customer_is_recorded_with_who_what_when(system: System) -> None:
    customer_id = await open_account(system.gateway)
    analyst_id, analyst = await _bearer(system, "analyst.kato", "analyst")
    _, admin = await _bearer(system, "admin.mori", "admin")
    view = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=analyst)
    assert view.status_code == 200

    (entry,) = await _trail(system, admin, actor=analyst_id, action="customer.view")
    assert entry["target_type"] == "customer"
    assert entry["target_id"] == customer_id
    assert entry["actor_role"] == "analyst"
    assert entry["service"] == "auth"
    assert entry["detail"] == {"full": False}
    assert entry["at"] == system.clock.now().isoformat()
    assert entry["ip"] not in ("", "unknown")
    assert "hanako" not in str(entry)  # what was read is named, the data itself is not copied


@pytest.mark.req("SEC-6", "DATA-1")
async def test_full_values_are_for_supervisors_with_a_reason_and_the_reason_is_recorded(system: System) -> None:
    customer_id = await open_account(system.gateway)
    _, analyst = await _bearer(system, "analyst.ueda", "analyst")
    supervisor_id, supervisor = await _bearer(system, "supervisor.ono", "supervisor")
    _, admin = await _bearer(system, "admin.ito", "admin")
    refused = await system.gateway.get(f"/v1/ops/customers/{customer_id}?full=true", headers=analyst)
    assert refused.status_code == 403
    for no_reason in ("", "?reason=", "?reason=%20%20"):
        sep = "&" if no_reason else ""
        refused = await system.gateway.get(
            f"/v1/ops/customers/{customer_id}?full=true{sep}{no_reason.lstrip('?')}", headers=supervisor
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "reason_required"
        assert "hanako" not in refused.text
    assert await _trail(system, admin, actor=supervisor_id, action="customer.view") == []
    shown = await system.gateway.get(
        f"/v1/ops/customers/{customer_id}",
        params={"full": "true", "reason": "本人からの住所変更の電話"},
        headers=supervisor,
    )
    assert shown.status_code == 200
    assert shown.json()["email"] == "hanako.sato@example.jp"
    masked = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=supervisor)
    assert masked.json()["email"] != "hanako.sato@example.jp"
    full_read, masked_read = reversed(await _trail(system, admin, actor=supervisor_id, action="customer.view"))
    assert full_read["detail"] == {"full": True, "reason": "本人からの住所変更の電話"}
    assert masked_read["detail"] == {"full": False}


@pytest.mark.req("SEC-6", "INC-1")
async def test_staff_actions_on_a_customer_and_staff_sign_in_and_out_are_recorded(system: System) -> None:
    customer_id = await open_account(system.gateway)
    supervisor_id, supervisor = await _bearer(system, "supervisor.abe", "supervisor")
    _, admin = await _bearer(system, "admin.sano", "admin")
    for action in ("lock", "unlock", "sessions/revoke"):
        response = await system.gateway.post(f"/v1/ops/customers/{customer_id}/{action}", headers=supervisor)
        assert response.status_code == 200, response.text
    out = await system.gateway.post("/v1/ops/auth/logout", headers=supervisor)
    assert out.status_code == 200

    entries = await _trail(system, admin, actor=supervisor_id)
    assert [e["action"] for e in reversed(entries)] == [
        "staff.login",
        "customer.lock",
        "customer.unlock",
        "customer.sessions_revoke",
        "staff.logout",
    ]
    assert {e["target_id"] for e in entries if e["action"].startswith("customer.")} == {customer_id}
    assert entries[-1]["target_id"] == supervisor_id


@pytest.mark.req("SEC-6")
async def test_only_admins_read_the_trail_and_reading_it_is_recorded_too(system: System) -> None:
    _, analyst = await _bearer(system, "analyst.endo", "analyst")
    admin_id, admin = await _bearer(system, "admin.kudo", "admin")
    refused = await system.gateway.get("/v1/ops/audit", headers=analyst)
    assert refused.status_code == 403
    await _trail(system, admin, action="customer.view")
    (entry,) = await _trail(system, admin, actor=admin_id, action="audit.search")
    assert entry["detail"] == {"action": "customer.view"}


@pytest.mark.req("SEC-6")
async def test_a_staff_read_in_another_service_reaches_the_trail_through_its_outbox(system: System) -> None:
    customer_id = await open_account(system.gateway)
    analyst_id, analyst = await _bearer(system, "analyst.hara", "analyst")
    _, admin = await _bearer(system, "admin.noda", "admin")
    listed = await system.gateway.get("/v1/ops/notifications", params={"customer_id": customer_id}, headers=analyst)
    assert listed.status_code == 200

    async def arrived() -> bool:
        return len(await _trail(system, admin, actor=analyst_id, action="notifications.search")) == 1

    await eventually_async(arrived)
    (entry,) = await _trail(system, admin, actor=analyst_id, action="notifications.search")
    assert entry["service"] == "notify"
    assert entry["target_id"] == customer_id
    assert entry["detail"]["filters"]["customer_id"] == customer_id


async def test_a_service_cannot_record_entries_in_another_services_name(system: System) -> None:
    actor = Actor(staff_id="stf_x", role="analyst", session_id="ses_x", ip="198.51.100.1")
    forged = audit_entry(
        actor, service="auth", action="customer.view", target_type="customer", target_id="cus_1",
        at=system.clock.now(),
    )  # fmt: skip
    own = audit_entry(
        actor, service="notify", action="notification.view", target_type="notification", target_id="ntf_1",
        at=system.clock.now(),
    )  # fmt: skip
    issuer = identity_issuer("notify", system.clock)
    async with client_for(system.apps["auth"]) as auth:
        auth.headers[IDENTITY_HEADER] = issuer.issue("auth")
        single = await auth.post("/internal/audit", json=forged)
        batch = await auth.post(
            "/internal/audit/batch",
            json={"messages": [{"key": e["entry_id"], "body": e} for e in (forged, own)]},
        )
    assert single.status_code == 422
    assert [r["status"] for r in batch.json()["results"]] == [422, 201]


async def test_the_trail_pages_with_a_cursor_and_is_filtered_by_customer(system: System) -> None:
    """(A customer named only in an entry's detail, as by a list that showed them: tests/security/
    test_staff_reads_audited.py, where kyc's and txn's lists are found by the customers they showed.)"""
    customer_id = await open_account(system.gateway)
    other_id = await open_account(system.gateway, email="taro.suzuki@example.jp", phone="090-8765-4321")
    analyst_id, analyst = await _bearer(system, "analyst.page", "analyst")
    _, admin = await _bearer(system, "admin.page", "admin")
    for _ in range(5):
        assert (await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=analyst)).status_code == 200
    assert (await system.gateway.get(f"/v1/ops/customers/{other_id}", headers=analyst)).status_code == 200

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {
            "actor": analyst_id,
            "action": "customer.view",
            "limit": "2",
            **({"cursor": cursor} if cursor else {}),
        }
        page = await system.gateway.get("/v1/ops/audit", params=params, headers=admin)
        assert page.status_code == 200, page.text
        seen += [entry["entry_id"] for entry in page.json()["entries"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6  # every entry once, none skipped

    about = await _trail(system, admin, customer_id=other_id, actor=analyst_id)
    assert [e["target_id"] for e in about] == [other_id]

    bad = await system.gateway.get("/v1/ops/audit", params={"cursor": "not-a-cursor"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["code"] == "cursor_invalid"
