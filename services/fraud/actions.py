"""What a detection sets off (RESP-1, RESP-3): the actions of the rules that hit, done in the /score transaction.

A case for review; a notice to the customer, a lock of the account or the end of their sessions, asked of
auth through the outbox, so that they happen if and only if the score is recorded; the device or the IP on
the deny list for 30 days. A "deny" or "review" outcome opens a case even when no rule asked for one: a
refusal must be reviewable. Everything is keyed by the score, so one score never acts twice.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import lists, models
from services.fraud.rules import Assessment
from services.fraud.runtime import FraudRuntime
from services.fraud.scoring import ScoreRecord
from shared.contracts.fraud_actions import SUMMARY_MAX, FraudAction, FraudActionRequest, fraud_actions_path
from shared.database import on_commit
from shared.ids import new_id
from shared.service import ServiceState

DENY_FOR = timedelta(days=30)
# The customer's actions, in the order they are asked of auth, with the name auth's route gives them.
CUSTOMER_ACTIONS: dict[str, FraudAction] = {
    "notify_customer": "notify_suspicious",
    "lock_account": "lock",
    "revoke_sessions": "revoke_sessions",
}
CASE_OUTCOMES = frozenset({"review", "deny"})

Done = dict[str, Any]


def wanted_actions(assessment: Assessment) -> dict[str, list[str]]:
    """Each action the hits ask for, with the rules that ask for it, heaviest first."""
    wanted: dict[str, list[str]] = {}
    for hit in sorted(assessment.hits, key=lambda h: -h.weight):
        for action in hit.actions:
            wanted.setdefault(action, []).append(hit.rule)
    return wanted


def needed(assessment: Assessment) -> bool:
    """Whether `react` would do anything for this assessment (most scores: no)."""
    return bool(wanted_actions(assessment)) or assessment.action in CASE_OUTCOMES


async def react(session: AsyncSession, runtime: FraudRuntime, record: ScoreRecord) -> list[Done]:
    """Do what the rules that hit ask for; what was done, one entry per action (the case's entry has `case_id`).

    Scores that ask for nothing (most of them) cost nothing more than this function call."""
    wanted = wanted_actions(record.assessment)
    opens_case = "open_case" in wanted or record.assessment.action in CASE_OUTCOMES
    if not wanted and not opens_case:
        return []
    if await _acted_on(session, record.id):
        return []
    case_id = new_id("cas") if opens_case else None
    done: list[Done] = []
    if case_id is not None:
        rules = wanted.get("open_case", [])
        why = "asked by the rules" if rules else f"the outcome is {record.assessment.action}"
        done.append({"action": "open_case", "rules": rules, "result": f"opened ({why})", "case_id": case_id})
    done += await _customer_actions(session, runtime.service, record, wanted, case_id)
    done += await _deny_list_actions(session, runtime, record, wanted)
    if case_id is not None:
        await _open_case(session, record, case_id, done)
    return done


async def _acted_on(session: AsyncSession, score_id: str) -> bool:
    c = models.case
    return (await session.execute(select(c.c.id).where(c.c.score_id == score_id).limit(1))).first() is not None


async def _customer_actions(
    session: AsyncSession, state: ServiceState, record: ScoreRecord, wanted: dict[str, list[str]], case_id: str | None
) -> list[Done]:
    customer_id = record.context.customer_id
    done: list[Done] = []
    for action, asked in CUSTOMER_ACTIONS.items():
        rules = wanted.get(action)
        if rules is None:
            continue
        if customer_id is None:
            done.append({"action": action, "rules": rules, "result": "skipped: no customer"})
            continue
        if action == "revoke_sessions" and "lock_account" in wanted:
            # auth's lock ends every session too: asking twice would only add a second message.
            done.append({"action": action, "rules": rules, "result": "done by lock_account"})
            continue
        asking = FraudActionRequest(
            action=asked, summary=record.assessment.summary[:SUMMARY_MAX], score_id=record.id, case_id=case_id
        )
        assert state.outbox is not None
        await state.outbox.enqueue(
            session,
            destination="auth",
            path=fraud_actions_path(customer_id),
            payload=asking.model_dump(exclude_none=True),
            key=f"fraud:{record.id}:{'notify' if asked == 'notify_suspicious' else asked}",
            once=True,
        )
        done.append({"action": action, "rules": rules, "result": f"asked auth to {asked}"})
    return done


async def _deny_list_actions(
    session: AsyncSession, runtime: FraudRuntime, record: ScoreRecord, wanted: dict[str, list[str]]
) -> list[Done]:
    done: list[Done] = []
    targets = (
        # by digest, as the list holds it: the entry and this case's actions never show the key (lists.py)
        ("deny_device", "devices", record.features.device_digest),
        ("deny_ip", "ips", _network(record.context.ip)),
    )
    for action, list_name, value in targets:
        rules = wanted.get(action)
        if rules is None:
            continue
        if value is None:
            what = "device key" if list_name == "devices" else "IP address"
            done.append({"action": action, "rules": rules, "result": f"skipped: no {what}"})
            continue
        entry_id = await _deny(session, record, list_name=list_name, value=value, rule=rules[0])
        result = f"listed {value} until {(record.context.at + DENY_FOR).isoformat()}" if entry_id else None
        done.append(
            {
                "action": action,
                "rules": rules,
                "result": result or f"{value} was already on the deny list",
                "entry_id": entry_id,
            }
        )
    if any(entry.get("entry_id") for entry in done):
        # After the commit, not before: a score in between would cache the old lists for another second.
        on_commit(session, runtime.scorer.lists.forget)
    return done


def _network(ip: str | None) -> str | None:
    """The IP as the ips list stores it (a /32 or /128), or None for what is not an address."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_network(ipaddress.ip_address(ip)))
    except ValueError:
        return None


async def _deny(session: AsyncSession, record: ScoreRecord, *, list_name: str, value: str, rule: str) -> str | None:
    """A deny entry for 30 days, unless one is already in force (staff's, with its own expiry, stays as it is)."""
    entry = models.list_entry
    now = record.context.at
    await lists.lock_value(session, list_name=list_name, kind="deny", value=value)
    in_force = await session.execute(
        select(entry.c.id)
        .where(entry.c.list == list_name, entry.c.kind == "deny", entry.c.value == value, *lists.active(now))
        .limit(1)
    )
    if in_force.first() is not None:
        return None
    entry_id = new_id("lst")
    await session.execute(
        entry.insert().values(
            id=entry_id,
            list=list_name,
            kind="deny",
            value=value,
            note=f"added by rule {rule} on score {record.id} ({record.context.operation})"[:500],
            source=f"rule:{rule}"[:40],
            created_at=now,
            expires_at=now + DENY_FOR,
        )
    )
    return entry_id


async def _open_case(session: AsyncSession, record: ScoreRecord, case_id: str, done: list[Done]) -> None:
    context = record.context
    await session.execute(
        models.case.insert().values(
            id=case_id,
            opened_at=context.at,
            status="open",
            score_id=record.id,
            operation=context.operation,
            customer_id=context.customer_id,
            device_id=context.device_id,
            ip=context.ip,
            score=record.assessment.score,
            reasons=json.dumps(record.reasons(), ensure_ascii=False),
            actions=json.dumps(done, ensure_ascii=False),
        )
    )
