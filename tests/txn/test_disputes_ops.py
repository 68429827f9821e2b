"""Disputes at the consultation desk, through the gateway: staff open one for a victim who calls (the emergency
contact route, INC-6 (a)), record the declaration, and only the role the relief policy names decides; a rejection
says why; a declaration left undecided past the policy's target shows as overdue (INC-7 "promptly"); every staff
read and action is in the audit trail (SEC-6).

The fraudulent withdrawals are made by tests/txn/fraud_postings.py's factories (standing in for completed ATM
withdrawals, which another part of txn builds); the rest goes through the public API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sekisho.sinks import SmsSink, SmtpSink
from services.txn.relief import SHIPPED_RELIEF_POLICY
from shared.clock import FrozenClock
from tests.auth.conftest import SIGNING_KEY
from tests.auth.test_api_login import grant_by_sms
from tests.harness import Backend, System, in_process_system
from tests.kyc.conftest import signed_in_again
from tests.servers import eventually, eventually_async
from tests.txn.fraud_postings import books_report, completed_withdrawal, staff
from tests.txn.test_disputes import account, body_of, dispute, subjects, transactions, victim_with_line

DESK = "/v1/ops/disputes"


async def open_at_desk(system: System, customer_id: str, ids: list[str], **fields: Any) -> dict[str, Any]:
    analyst = await staff(system, "analyst")
    body = {
        "customer_id": customer_id,
        "transaction_ids": ids,
        "description": "お客さまから電話: スマートフォンを紛失、その後にATM出金の通知が届いた",
        "declares_not_liable": True,
        "note": "phone call; identified by birth date and registered address",
        **fields,
    }
    opened = await system.gateway.post(DESK, json=body, headers=analyst)
    assert opened.status_code == 201, opened.text
    answer: dict[str, Any] = opened.json()
    return answer


async def audit_actions(system: System, action: str, admin: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The audit entries of `action`; pass `admin` when asking repeatedly (each new admin is a staff sign-in, and
    sign-ins are rate-limited)."""
    admin = admin or await staff(system, "admin")
    found = await system.gateway.get("/v1/ops/audit", params={"action": action}, headers=admin)
    assert found.status_code == 200, found.text
    entries: list[dict[str, Any]] = found.json()["entries"]
    return entries


async def test_staff_open_a_dispute_for_a_victim_who_calls_and_stop_the_account(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    """The victim's phone is gone and their sign-in with it: they call. Staff stop the account (auth's lock), open the
    dispute with the declaration taken on the phone, and a supervisor relieves it; the victim hears of both steps."""
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 90_000)
    supervisor = await staff(system, "supervisor")
    locked = await system.gateway.post(f"/v1/ops/customers/{victim.customer_id}/lock", headers=supervisor)
    assert locked.status_code == 200, locked.text
    stopped = await system.gateway.get("/v1/me/account", headers=victim.headers)
    assert stopped.status_code == 401  # the sessions the fraudster may hold are ended

    opened = await open_at_desk(system, victim.customer_id, [stolen])
    assert (opened["status"], opened["channel"]) == ("under_review", "desk")
    assert opened["opened_by"].startswith("stf_")
    assert opened["declared_by"] == opened["opened_by"]
    assert [(t["from_status"], t["to_status"]) for t in opened["transitions"]] == [
        (None, "open"),
        ("open", "under_review"),
    ]
    assert "identified by birth date" in opened["transitions"][1]["reason"]
    await eventually(lambda: any("お申し出を受け付けました" in s for s in subjects(smtp, victim.email)))
    assert "お電話・窓口" in body_of(smtp, victim.email, "お申し出を受け付けました")

    relieved = await system.gateway.post(f"{DESK}/{opened['dispute_id']}/relief", json={}, headers=supervisor)
    assert relieved.status_code == 200, relieved.text
    assert relieved.json()["decided_by"].startswith("stf_")
    await eventually(lambda: any("補償について" in s for s in subjects(smtp, victim.email)))

    # The account resumes; the victim signs in again and finds the dispute decided and nothing owed.
    unlocked = await system.gateway.post(f"/v1/ops/customers/{victim.customer_id}/unlock", headers=supervisor)
    assert unlocked.status_code == 200
    headers = await signed_in_again(system, sms, email=victim.email, phone=victim.phone)
    listed = await system.gateway.get("/v1/me/disputes", headers=headers)
    if listed.status_code == 401:  # a password-only login from a known device: a view needs possession too
        grant = await grant_by_sms(system, sms, listed.json()["challenge"]["id"])
        listed = await system.gateway.get("/v1/me/disputes", headers={**headers, "Step-Up-Grant": grant})
    assert listed.status_code == 200, listed.text
    (mine,) = listed.json()["disputes"]
    assert (mine["dispute_id"], mine["status"], mine["channel"]) == (opened["dispute_id"], "relieved", "desk")

    async def audited() -> bool:
        return bool(await audit_actions(system, "dispute.relief"))

    await eventually_async(audited)
    (entry,) = await audit_actions(system, "dispute.open")
    assert (entry["target_id"], entry["service"]) == (opened["dispute_id"], "txn")
    assert entry["detail"]["transaction_ids"] == [stolen]
    (entry,) = await audit_actions(system, "dispute.relief")
    assert (entry["actor_role"], entry["detail"]["amount"]) == ("supervisor", 90_000)


async def test_the_desk_cannot_open_one_on_what_is_not_the_callers(system: System, sms: SmsSink) -> None:
    victim = await victim_with_line(system, sms)
    other = await victim_with_line(system, sms, email="jiro.suzuki@example.jp", phone="080-2222-3333")
    theirs = await completed_withdrawal(system, other.customer_id, 10_000)
    analyst = await staff(system, "analyst")
    body = {"transaction_ids": [theirs], "description": "x", "note": "phone call"}
    wrong = await system.gateway.post(DESK, json={**body, "customer_id": victim.customer_id}, headers=analyst)
    assert (wrong.status_code, wrong.json()["code"]) == (404, "not_found")
    nobody = await system.gateway.post(
        DESK, json={**body, "customer_id": "cus_00000000000000000000000000"}, headers=analyst
    )
    assert (nobody.status_code, nobody.json()["code"]) == (404, "not_found")
    unnoted = await system.gateway.post(
        DESK, json={"transaction_ids": [theirs], "description": "x", "customer_id": other.customer_id}, headers=analyst
    )
    assert unnoted.status_code == 422  # how the caller reached the desk and was identified is always recorded
    listed = await system.gateway.get(DESK, headers=analyst)
    assert listed.json()["disputes"] == []


async def test_an_analyst_cannot_decide_and_a_customer_cannot_reach_the_desk(system: System, sms: SmsSink) -> None:
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 45_000)
    opened = await open_at_desk(system, victim.customer_id, [stolen])
    analyst = await staff(system, "analyst")
    for action, body in (("relief", {}), ("reject", {"reason": "looks like the customer"})):
        refused = await system.gateway.post(f"{DESK}/{opened['dispute_id']}/{action}", json=body, headers=analyst)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), refused.text
    as_customer = await system.gateway.post(f"{DESK}/{opened['dispute_id']}/relief", json={}, headers=victim.headers)
    assert as_customer.status_code in (401, 403)
    credit = await system.gateway.get(
        "/v1/ops/credit-information", params={"customer_id": victim.customer_id}, headers=victim.headers
    )
    assert credit.status_code in (401, 403)

    view = await system.gateway.get(f"{DESK}/{opened['dispute_id']}", headers=analyst)
    assert view.json()["status"] == "under_review"
    assert (await account(system, victim))["outstanding"] == 45_000  # nothing moved


async def test_a_rejection_needs_a_reason_which_the_customer_is_told(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    victim = await victim_with_line(system, sms)
    mine = await completed_withdrawal(system, victim.customer_id, 25_000)
    opened = await dispute(system, victim, [mine], declares_not_liable=True)
    supervisor = await staff(system, "supervisor")
    reject = f"{DESK}/{opened['dispute_id']}/reject"
    for body in ({}, {"reason": ""}):
        refused = await system.gateway.post(reject, json=body, headers=supervisor)
        assert refused.status_code == 422, refused.text
    blank = await system.gateway.post(reject, json={"reason": "   "}, headers=supervisor)
    assert (blank.status_code, blank.json()["code"]) == (422, "reason_required")

    reason = "ATMの映像で、ご本人によるご利用と確認できました"
    rejected = await system.gateway.post(reject, json={"reason": reason}, headers=supervisor)
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["decision_reason"]) == ("rejected", reason)
    seen = await system.gateway.get(f"/v1/me/disputes/{opened['dispute_id']}", headers=victim.headers)
    assert (seen.json()["status"], seen.json()["decision_reason"]) == ("rejected", reason)
    await eventually(lambda: any("調査結果" in s for s in subjects(smtp, victim.email)))
    assert reason in body_of(smtp, victim.email, "調査結果")

    # Nothing moved, nothing is flagged, and a decided dispute stays decided.
    assert (await account(system, victim))["outstanding"] == 25_000
    assert not [t for t in await transactions(system, victim) if t["kind"] == "relief"]
    late = await system.gateway.post(f"{DESK}/{opened['dispute_id']}/relief", json={}, headers=supervisor)
    assert (late.status_code, late.json()["code"]) == (409, "illegal_transition")
    analyst = await staff(system, "analyst")
    records = await system.gateway.get(
        "/v1/ops/credit-information", params={"customer_id": victim.customer_id}, headers=analyst
    )
    assert [r["status"] for r in records.json()["records"]] == ["reported"]
    # New facts: the victim may dispute the transaction again.
    again = await dispute(system, victim, [mine])
    assert again["status"] == "open"
    assert (await books_report(system)).balanced


async def test_a_declaration_left_undecided_past_the_policys_target_shows_overdue(system: System, sms: SmsSink) -> None:
    victim = await victim_with_line(system, sms)
    first = await completed_withdrawal(system, victim.customer_id, 10_000)
    second = await completed_withdrawal(system, victim.customer_id, 20_000)
    waiting = await dispute(system, victim, [first], declares_not_liable=True)
    undeclared = await dispute(system, victim, [second])
    due = datetime.fromisoformat(waiting["relief_due_at"])

    async def queue(**params: Any) -> list[dict[str, Any]]:
        analyst = await staff(system, "analyst")
        listed = await system.gateway.get(DESK, params=params, headers=analyst)
        assert listed.status_code == 200, listed.text
        found: list[dict[str, Any]] = listed.json()["disputes"]
        return found

    assert await queue(overdue="true") == []
    system.clock.set(due - timedelta(seconds=1))  # type: ignore[attr-defined]
    assert await queue(overdue="true") == []
    system.clock.set(due + timedelta(seconds=1))  # type: ignore[attr-defined]
    (late,) = await queue(overdue="true")
    assert (late["dispute_id"], late["overdue"], late["amount"]) == (waiting["dispute_id"], True, 10_000)
    everything = {d["dispute_id"]: d["overdue"] for d in await queue()}
    assert everything == {waiting["dispute_id"]: True, undeclared["dispute_id"]: False}
    assert [d["dispute_id"] for d in await queue(status="open")] == [undeclared["dispute_id"]]

    supervisor = await staff(system, "supervisor")
    relieved = await system.gateway.post(f"{DESK}/{waiting['dispute_id']}/relief", json={}, headers=supervisor)
    assert relieved.status_code == 200, relieved.text
    assert relieved.json()["overdue"] is False
    assert await queue(overdue="true") == []


# -- the policy is data -----------------------------------------------------------------------------------------------


@pytest.fixture
def stricter_policy(tmp_path: Path) -> Path:
    """The shipped policy, version 2, with decisions reserved to admins."""
    text = SHIPPED_RELIEF_POLICY.read_text(encoding="utf-8")
    text = text.replace("version = 1", "version = 2").replace('decision_role = "supervisor"', 'decision_role = "admin"')
    path = tmp_path / "relief_policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def strict_system(backend: Backend, smtp: SmtpSink, sms: SmsSink, stricter_policy: Path) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "txn": {"txn_relief_policy_file": str(stricter_policy)},
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


async def test_the_policy_file_names_who_decides_and_each_relief_records_its_version(
    strict_system: System, sms: SmsSink
) -> None:
    system = strict_system
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 15_000)
    opened = await dispute(system, victim, [stolen], declares_not_liable=True)
    assert opened["relief_policy"]["version"] == 2
    supervisor = await staff(system, "supervisor")
    refused = await system.gateway.post(f"{DESK}/{opened['dispute_id']}/relief", json={}, headers=supervisor)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")  # the gateway let a supervisor by
    admin = await staff(system, "admin")
    relieved = await system.gateway.post(f"{DESK}/{opened['dispute_id']}/relief", json={}, headers=admin)
    assert relieved.status_code == 200, relieved.text
    assert relieved.json()["policy_version"] == 2
    assert (await account(system, victim))["outstanding"] == 0
