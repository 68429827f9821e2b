"""Incidents through the gateway: opened by a supervisor, read by analysts, a status that only moves on with a
reason, and a timeline where nothing is ever edited or deleted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from shared.clock import FrozenClock
from shared.ids import is_id
from tests.fraud.incident_helpers import INCIDENT, desk, open_incident
from tests.fraud.test_ops_api import trail
from tests.harness import System
from tests.servers import eventually_async


async def incident_trail(system: System, admin: dict[str, str], wanted: dict[str, int]) -> dict[str, int]:
    """fraud's audit entries, once at least as many of each action as wanted have reached auth's trail: how many of
    each (entries go through fraud's outbox)."""
    counts: dict[str, int] = {}

    async def arrived() -> bool:
        counts.clear()
        for entry in await trail(system, admin):
            if entry["service"] == "fraud":
                counts[entry["action"]] = counts.get(entry["action"], 0) + 1
        return all(counts.get(action, 0) >= count for action, count in wanted.items())

    await eventually_async(arrived)
    return counts


async def test_an_incident_keeps_every_entry_and_status_change_with_who_and_when(system: System) -> None:
    supervisor, analyst, admin = await desk(system)
    incident = await open_incident(system, supervisor)
    assert is_id(incident["id"], "inc")
    assert incident["status"] == "open"
    assert incident["title"] == INCIDENT["title"]
    assert [e["kind"] for e in incident["timeline"]] == ["status"]
    path = f"/v1/ops/incidents/{incident['id']}"

    fact = await system.gateway.post(
        f"{path}/timeline",
        json={"kind": "fact", "text": "被害顧客は 12 名", "at": (system.clock.now() - timedelta(hours=1)).isoformat()},
        headers=analyst,
    )
    assert fact.status_code == 201, fact.text
    correction = await system.gateway.post(
        f"{path}/timeline",
        json={"kind": "fact", "text": "訂正: 被害顧客は 13 名", "corrects": fact.json()["id"]},
        headers=analyst,
    )
    assert correction.status_code == 201, correction.text
    decision = await system.gateway.post(
        f"{path}/timeline", json={"kind": "decision", "text": "該当IP帯を遮断する"}, headers=supervisor
    )
    assert decision.status_code == 201

    moved = await system.gateway.post(
        f"{path}/status", json={"status": "contained", "reason": "IP帯を遮断済み"}, headers=supervisor
    )
    assert moved.status_code == 200, moved.text
    back = await system.gateway.post(f"{path}/status", json={"status": "open", "reason": "再発"}, headers=supervisor)
    assert back.status_code == 409
    assert back.json()["code"] == "status_backwards"
    same = await system.gateway.post(f"{path}/status", json={"status": "contained", "reason": "x"}, headers=supervisor)
    assert same.status_code == 409
    assert same.json()["code"] == "status_unchanged"
    reopened = await system.gateway.post(
        f"{path}/status", json={"status": "open", "reason": "同じ手口を再検知", "reopen": True}, headers=supervisor
    )
    assert reopened.status_code == 200, reopened.text

    shown = await system.gateway.get(path, headers=analyst)
    assert shown.status_code == 200
    timeline = shown.json()["timeline"]
    assert [e["seq"] for e in timeline] == [1, 2, 3, 4, 5, 6]
    assert [e["kind"] for e in timeline] == ["status", "fact", "fact", "decision", "status", "status"]
    # The first fact is still there as it was written, and the correction names it.
    assert timeline[1]["text"] == "被害顧客は 12 名"
    assert timeline[2]["corrects"] == timeline[1]["id"]
    assert timeline[4]["data"] == {"from": "open", "to": "contained", "reason": "IP帯を遮断済み", "reopen": False}
    assert timeline[5]["data"]["reopen"] is True
    assert all(e["recorded_by"] and e["recorded_at"] for e in timeline)
    assert timeline[1]["at"] < timeline[1]["recorded_at"]
    assert len({e["recorded_by"] for e in timeline}) == 2  # the supervisor's and the analyst's

    actions = await incident_trail(
        system, admin, {"incident.open": 1, "incident.timeline_add": 3, "incident.status": 2}
    )
    assert actions["incident.timeline_add"] == 3
    assert actions["incident.status"] == 2


async def test_incidents_are_listed_newest_first_a_page_at_a_time(system: System) -> None:
    supervisor, analyst, _ = await desk(system)
    opened = []
    for number in range(3):
        opened.append(await open_incident(system, supervisor, title=f"件 {number}"))
        assert isinstance(system.clock, FrozenClock)
        system.clock.advance(1)
    await system.gateway.post(
        f"/v1/ops/incidents/{opened[0]['id']}/status", json={"status": "contained", "reason": "r"}, headers=supervisor
    )
    first = await system.gateway.get("/v1/ops/incidents", params={"limit": 2}, headers=analyst)
    assert first.status_code == 200, first.text
    assert [i["id"] for i in first.json()["incidents"]] == [opened[2]["id"], opened[1]["id"]]
    cursor = first.json()["next_cursor"]
    second = await system.gateway.get("/v1/ops/incidents", params={"limit": 2, "cursor": cursor}, headers=analyst)
    assert [i["id"] for i in second.json()["incidents"]] == [opened[0]["id"]]
    assert second.json()["next_cursor"] is None
    contained = await system.gateway.get("/v1/ops/incidents", params={"status": "contained"}, headers=analyst)
    assert [i["id"] for i in contained.json()["incidents"]] == [opened[0]["id"]]
    bad = await system.gateway.get("/v1/ops/incidents", params={"cursor": "inc_nothere"}, headers=analyst)
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_failed"


async def test_an_analyst_cannot_open_or_move_an_incident_and_bad_input_changes_nothing(system: System) -> None:
    supervisor, analyst, _ = await desk(system)
    now = system.clock.now()
    body = {**INCIDENT, "detected_at": now.isoformat()}
    denied = await system.gateway.post("/v1/ops/incidents", json=body, headers=analyst)
    assert denied.status_code == 403
    anonymous = await system.gateway.post("/v1/ops/incidents", json=body)
    assert anonymous.status_code == 401
    for wrong in (
        {**body, "kind": "alien_invasion"},
        {**body, "title": ""},
        {**body, "detected_at": (now + timedelta(days=1)).isoformat()},
        {**body, "occurred_at": (now + timedelta(minutes=1)).isoformat()},
        {**body, "detected_at": "2026-01-01T00:00:00"},  # no time zone
        {**body, "extra": 1},
    ):
        refused = await system.gateway.post("/v1/ops/incidents", json=wrong, headers=supervisor)
        assert refused.status_code == 422, (wrong, refused.text)
        assert refused.json()["code"] == "validation_failed"
    listed = await system.gateway.get("/v1/ops/incidents", headers=analyst)
    assert listed.json()["incidents"] == []

    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"
    moved = await system.gateway.post(f"{path}/status", json={"status": "resolved", "reason": "x"}, headers=analyst)
    assert moved.status_code == 403
    for wrong_entry in (
        {"kind": "rumour", "text": "x"},
        {"kind": "fact", "text": ""},
        {"kind": "fact", "text": "x", "corrects": "ine_doesnotexist"},
        {"kind": "fact", "text": "x", "at": (now + timedelta(hours=1)).isoformat()},
    ):
        refused = await system.gateway.post(f"{path}/timeline", json=wrong_entry, headers=analyst)
        assert refused.status_code == 422, (wrong_entry, refused.text)
    unknown = await system.gateway.get("/v1/ops/incidents/inc_00000000000000000000000000", headers=analyst)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "incident_not_found"
    unknown_entry = await system.gateway.post(
        "/v1/ops/incidents/inc_00000000000000000000000000/timeline", json={"kind": "fact", "text": "x"}, headers=analyst
    )
    assert unknown_entry.status_code == 404
    shown = (await system.gateway.get(path, headers=analyst)).json()
    assert shown["status"] == "open"
    assert len(shown["timeline"]) == 1


async def test_entries_added_at_once_each_get_their_own_place(system: System) -> None:
    supervisor, analyst, _ = await desk(system)
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}/timeline"
    answers = await asyncio.gather(
        *(system.gateway.post(path, json={"kind": "fact", "text": f"事実 {n}"}, headers=analyst) for n in range(8))
    )
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers if a.status_code != 201]
    shown = (await system.gateway.get(f"/v1/ops/incidents/{incident['id']}", headers=analyst)).json()
    assert [e["seq"] for e in shown["timeline"]] == list(range(1, 10))
    assert sorted(e["text"] for e in shown["timeline"][1:]) == sorted(f"事実 {n}" for n in range(8))
