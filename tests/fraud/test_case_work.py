"""Working cases through the gateway: who works a case (an analyst takes it, a supervisor gives it), comments,
statuses between open and resolved, the queue paged with cursors and filtered by assignee; every step audited."""

from __future__ import annotations

import asyncio
import base64

from shared.ids import new_id
from tests.fraud.test_cases import CASES, mule_phone_case, rules_of, score
from tests.fraud.test_ops_api import staff, trail
from tests.harness import System
from tests.servers import eventually_async


async def test_a_case_is_taken_given_commented_moved_and_resolved_from_review(system: System) -> None:
    analyst_id, analyst = await staff(system, "case.kudo", "analyst")
    other_id, other = await staff(system, "case.abe", "analyst")
    supervisor_id, supervisor = await staff(system, "case.sano", "supervisor")
    _, admin = await staff(system, "case.mori", "admin")
    case_id = await mule_phone_case(system)
    case = f"{CASES}/{case_id}"

    taken = await system.gateway.post(f"{case}/assign", json={}, headers=analyst)
    assert taken.status_code == 200, taken.text
    assert (taken.json()["assignee"], taken.json()["assigned_by"]) == (analyst_id, analyst_id)
    # An analyst cannot hand a case to someone else, nor take it over by naming themselves for another.
    pushed = await system.gateway.post(f"{case}/assign", json={"staff_id": other_id}, headers=analyst)
    assert (pushed.status_code, pushed.json()["code"]) == (403, "assignment_forbidden")
    forged = await system.gateway.post(f"{case}/assign", json={"staff_id": "stf_x'; --"}, headers=supervisor)
    assert (forged.status_code, forged.json()["code"]) == (422, "validation_failed")
    assert (await system.gateway.get(case, headers=analyst)).json()["assignee"] == analyst_id
    given = await system.gateway.post(f"{case}/assign", json={"staff_id": other_id}, headers=supervisor)
    assert given.status_code == 200, given.text
    assert (given.json()["assignee"], given.json()["assigned_by"]) == (other_id, supervisor_id)

    for status, code in (("in_review", 200), ("escalated", 200), ("in_review", 200), ("in_review", 409)):
        moved = await system.gateway.post(f"{case}/status", json={"status": status}, headers=other)
        assert moved.status_code == code, moved.text
    assert moved.json()["code"] == "case_status_refused"
    sideways = await system.gateway.post(f"{case}/status", json={"status": "resolved"}, headers=other)
    assert (sideways.status_code, sideways.json()["code"]) == (422, "validation_failed")

    for text in ("同じ端末で3口座", "supervisor asked: check the bank account"):
        commented = await system.gateway.post(f"{case}/comments", json={"text": text}, headers=other)
        assert commented.status_code == 201, commented.text
    empty = await system.gateway.post(f"{case}/comments", json={"text": "  "}, headers=other)
    assert (empty.status_code, empty.json()["code"]) == (422, "validation_failed")
    viewed = (await system.gateway.get(case, headers=analyst)).json()
    assert [(c["by"], c["text"]) for c in viewed["comments"]] == [
        (other_id, "同じ端末で3口座"),
        (other_id, "supervisor asked: check the bank account"),
    ]
    assert viewed["status"] == "in_review"
    in_review = await system.gateway.get(CASES, params={"status": "in_review"}, headers=analyst)
    assert [c["id"] for c in in_review.json()["cases"]] == [case_id]

    resolved = await system.gateway.post(f"{case}/resolve", json={"label": "fraud", "note": "mule"}, headers=other)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    again = await system.gateway.post(f"{case}/status", json={"status": "in_review"}, headers=other)
    assert (again.status_code, again.json()["code"]) == (409, "case_already_resolved")
    late = await system.gateway.post(f"{case}/assign", json={}, headers=analyst)
    assert (late.status_code, late.json()["code"]) == (409, "case_already_resolved")
    unknown = await system.gateway.post(f"{CASES}/{new_id('cas')}/comments", json={"text": "x"}, headers=other)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "case_not_found")

    async def case_actions() -> list[str]:
        entries = await trail(system, admin)
        return [e["action"] for e in entries if e["target_id"] == case_id and "cus_mule_c" in e["detail"]["customers"]]

    async def all_arrived() -> bool:
        return "fraud_case.resolve" in await case_actions()

    await eventually_async(all_arrived)
    actions = await case_actions()
    assert actions.count("fraud_case.assign") == 2
    assert actions.count("fraud_case.status") == 3
    assert actions.count("fraud_case.comment") == 2


async def test_the_case_queue_pages_with_its_own_cursors_and_filters_by_assignee(system: System) -> None:
    analyst_id, analyst = await staff(system, "queue.kudo", "analyst")
    newest = await mule_phone_case(system)
    ids = [newest]
    for customer in ("cus_mule_b", "cus_mule_a"):
        system.clock.advance(1)  # type: ignore[attr-defined]
        answer = await score(system, "login", customer_id=customer, device_key="key-mule", ip="198.51.100.10")
        assert "mule_device" in rules_of(answer), answer
        ids.insert(0, answer["case_id"])
    assert (await system.gateway.post(f"{CASES}/{ids[1]}/assign", json={}, headers=analyst)).status_code == 200

    first = await system.gateway.get(CASES, params={"limit": 2}, headers=analyst)
    assert first.status_code == 200, first.text
    assert [c["id"] for c in first.json()["cases"]] == ids[:2]
    second = await system.gateway.get(
        CASES, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=analyst
    )
    assert [c["id"] for c in second.json()["cases"]] == ids[2:]
    assert second.json()["next_cursor"] is None
    mine = await system.gateway.get(CASES, params={"assignee": analyst_id}, headers=analyst)
    assert [c["id"] for c in mine.json()["cases"]] == [ids[1]]

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    cursor = first.json()["next_cursor"]
    for tampered in (cursor + "A", "%%%", b64(f"inquiries:{ids[0]}"), b64(f"cases:{new_id('cas')}"), b64("cases:")):
        refused = await system.gateway.get(CASES, params={"cursor": tampered}, headers=analyst)
        assert refused.status_code == 422, (tampered, refused.text)
        assert refused.json()["code"] == "cursor_invalid"
    bad_assignee = await system.gateway.get(CASES, params={"assignee": "everyone"}, headers=analyst)
    assert (bad_assignee.status_code, bad_assignee.json()["code"]) == (422, "validation_failed")


async def test_two_analysts_moving_one_case_at_once_move_it_once(system: System) -> None:
    _, first = await staff(system, "race.kudo", "analyst")
    _, second = await staff(system, "race.abe", "analyst")
    case = f"{CASES}/{await mule_phone_case(system)}"
    answers = await asyncio.gather(
        system.gateway.post(f"{case}/status", json={"status": "in_review"}, headers=first),
        system.gateway.post(f"{case}/status", json={"status": "in_review"}, headers=second),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    resolved = await asyncio.gather(
        system.gateway.post(f"{case}/resolve", json={"label": "fraud", "note": "a"}, headers=first),
        system.gateway.post(f"{case}/resolve", json={"label": "legit", "note": "b"}, headers=second),
    )
    assert sorted(answer.status_code for answer in resolved) == [200, 409]
    winner = next(answer.json() for answer in resolved if answer.status_code == 200)
    assert (await system.gateway.get(case, headers=first)).json()["label"] == winner["label"]
