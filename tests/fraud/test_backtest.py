"""Backtests (MON-3): a rule set replayed over stored events, judged against the labels of resolved cases.

The history is posted as the producing services post it (tests/fraud/test_scoring.py's helpers); the labels
are resolved cases written as the case queue leaves them. Every expected count below is worked out by hand
from the history and the rule set, event by event.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.fraud import cases, lists, models, rule_sets
from services.fraud.app import create_app
from services.fraud.backtest import BacktestReport, backtest_version, run_backtest
from services.fraud.rules import RuleSetBody
from shared.clock import FrozenClock
from shared.ids import new_id
from shared.problems import Problem
from tests.fraud.test_scoring import NOW, OFFICE_IP, Fraud
from tests.harness import Backend, client_for, migrate, new_backend, running

CLI = (sys.executable, "-m", "sekisho.cli", "fraud", "backtest")
SINCE = NOW - timedelta(days=2)
UNTIL = NOW

# The rules the two frauds of the product hit (test_scoring.py), on their own, so every score is worked out by hand.
FOCUSED: dict[str, Any] = {
    "thresholds": {"step_up": 30, "review": 60, "deny": 85},
    "rules": [
        {"id": "new_device", "kind": "new_device", "weight": 30, "reason": "new device"},
        {
            "id": "recent_change",
            "kind": "recent_change",
            "weight": 30,
            "reason": "{change} changed {hours} h ago",
            "operations": ["withdrawal", "charge", "bank_link"],
        },
        {
            "id": "unusual_amount",
            "kind": "unusual_amount",
            "weight": 25,
            "reason": "amount {amount} yen far above the usual {median} yen",
            "operations": ["withdrawal", "charge"],
        },
        {
            "id": "charge_after_new_link",
            "kind": "charge_after_new_link",
            "weight": 35,
            "reason": "charge {minutes} min after the bank account was linked",
            "operations": ["charge"],
        },
        {
            "id": "new_account_money",
            "kind": "new_account_money",
            "weight": 30,
            "reason": "account opened {hours} h ago",
            "operations": ["withdrawal", "charge", "bank_link"],
        },
    ],
}


def focused(*, enabled: bool = True) -> RuleSetBody:
    body = json.loads(json.dumps(FOCUSED))
    for rule in body["rules"]:
        rule["enabled"] = enabled
    if not enabled:  # a rule set has at least one rule: one that nothing in the history sets off
        body["rules"].append({"id": "failed_logins", "kind": "failed_logins", "weight": 30, "reason": "failures"})
    return RuleSetBody.model_validate(body)


@pytest.fixture
async def fraud(backend: Backend) -> AsyncIterator[Fraud]:
    await migrate(backend, "fraud")
    clock = FrozenClock(NOW)
    app = create_app(backend.settings("fraud"), clock=clock)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        yield Fraud(app, clock, client)


async def ordinary(fraud: Fraud, customer: str, device: str, *, days: int = 60, amount: int = 10000) -> None:
    """Like Fraud.ordinary_customer, for any customer: logins from one phone every other morning, a weekly
    withdrawal. Of it, only the login of 1 day and 1 minute ago falls in [SINCE, UNTIL)."""
    await fraud.event("account_opened", ago=timedelta(days=days), customer=customer, device=None)
    for day in range(1, days, 2):
        await fraud.event("login_succeeded", ago=timedelta(days=day, minutes=day % 7), customer=customer, device=device)
        if day % 7 == 1:
            await fraud.event(
                "withdrawal_completed",
                ago=timedelta(days=day, minutes=-5),
                customer=customer,
                device=device,
                amount=amount + day * 10,
            )


async def resolved_case(fraud: Fraud, customer: str, label: str, *, ago: timedelta) -> None:
    """A case as the case queue leaves it once staff resolved it (the labels a backtest judges by)."""
    opened_at = fraud.clock.now() - ago
    async with fraud.app.state.service.database.transaction() as session:
        await session.execute(
            models.case.insert().values(
                id=new_id("cas"),
                opened_at=opened_at,
                status="resolved",
                operation="withdrawal",
                customer_id=customer,
                score=60,
                reasons="[]",
                actions="[]",
                label=label,
                resolved_at=opened_at + timedelta(minutes=5),
                resolved_by="stf_test",
                note="confirmed with the customer",
            )
        )


async def history(fraud: Fraud) -> None:
    """Two frauds and four ordinary customers. In [SINCE, UNTIL), under FOCUSED:

    cus_fake (Docomo pattern; fraud case 4 min ago): login 4 h 50 min ago 0 allow (fn); bank link 10 min ago:
      new_account_money 30 step_up (tp); charge 5 min ago: charge_after_new_link 35 + new_account_money 30 = 65
      review (tp).
    cus_taken (takeover; fraud case 30 min ago): login 1 day ago 0 (fn); login from the criminal's phone 3 h ago:
      new_device 30 step_up (tp); phone changed 2 h ago 0 (fn: a profile change, no money rule applies);
      withdrawal of 100,000 yen 1 h ago: recent_change 30 + unusual_amount 25 = 55 step_up (tp).
    cus_a, cus_b (legit cases 1 h ago): login 1 day ago 0 (tn each).
    cus_c (legit case 5 h ago): login 1 day ago 0 (tn); login from a new phone 6 h ago: new_device 30 step_up (fp).
    cus_d (a fraud case 3 days ago, before its events: no label): login 1 day ago 0, unlabelled.
    12 events: allow 7, step_up 4, review 1; tp 4, fp 1, fn 3, tn 3, 1 unlabelled.
    """
    for customer in ("cus_taken", "cus_a", "cus_b", "cus_c", "cus_d"):
        await ordinary(fraud, customer, f"phone-{customer}")
    await fraud.event("account_opened", ago=timedelta(hours=5), customer="cus_fake", device="phone-x")
    await fraud.event("login_succeeded", ago=timedelta(hours=4, minutes=50), customer="cus_fake", device="phone-x")
    await fraud.event(
        "bank_account_linked",
        ago=timedelta(minutes=10),
        customer="cus_fake",
        device="phone-x",
        bank_account="ba_victim",
    )
    await fraud.event(
        "charge_requested",
        ago=timedelta(minutes=5),
        customer="cus_fake",
        device="phone-x",
        amount=200000,
        bank_account="ba_victim",
    )
    criminal = {"customer": "cus_taken", "device": "phone-criminal", "ip": OFFICE_IP}
    await fraud.event("login_succeeded", ago=timedelta(hours=3), **criminal)
    await fraud.event("attribute_changed", ago=timedelta(hours=2), attributes=["phone"], **criminal)
    await fraud.event("withdrawal_requested", ago=timedelta(hours=1), amount=100000, **criminal)
    await fraud.event("withdrawal_completed", ago=timedelta(minutes=59), amount=100000, **criminal)  # not replayed
    await fraud.event("login_succeeded", ago=timedelta(hours=6), customer="cus_c", device="phone-c-new")
    await fraud.event("login_succeeded", ago=timedelta(days=3), customer="cus_a", device="phone-cus_a")  # before SINCE
    await fraud.event("login_succeeded", ago=timedelta(0), customer="cus_a", device="phone-new")  # at UNTIL: left out
    await resolved_case(fraud, "cus_fake", "fraud", ago=timedelta(minutes=4))
    await resolved_case(fraud, "cus_taken", "fraud", ago=timedelta(minutes=30))
    await resolved_case(fraud, "cus_a", "legit", ago=timedelta(hours=1))
    await resolved_case(fraud, "cus_b", "legit", ago=timedelta(hours=1))
    await resolved_case(fraud, "cus_c", "legit", ago=timedelta(hours=5))
    await resolved_case(fraud, "cus_d", "fraud", ago=timedelta(days=3))


async def event_id(fraud: Fraud, customer: str, type: str, ago: timedelta) -> str:
    e = models.event
    async with fraud.app.state.service.database.transaction() as session:
        found: str = (
            await session.execute(
                select(e.c.id).where(
                    e.c.customer_id == customer, e.c.type == type, e.c.occurred_at == fraud.clock.now() - ago
                )
            )
        ).scalar_one()
    return found


async def replay(fraud: Fraud, body: RuleSetBody, **options: Any) -> BacktestReport:
    return await run_backtest(fraud.app.state.service.database.reading, body, since=SINCE, until=UNTIL, **options)


def examples_of(report: BacktestReport, rule: str) -> list[tuple[str, str | None]]:
    return [(example.event_id, example.customer_id) for example in report.rules[rule].examples]


@pytest.mark.req("MON-3")
async def test_a_draft_with_the_fraud_rules_finds_both_frauds_with_the_counts_worked_out_by_hand(fraud: Fraud) -> None:
    await history(fraud)
    report = await replay(fraud, focused(), version=7)

    assert report.events == 12
    assert report.actions == {"allow": 7, "step_up": 4, "review": 1, "deny": 0}
    assert (report.labelled, report.unlabelled, report.flagged) == (11, 1, 5)
    c = report.confusion
    assert (c.tp, c.fp, c.fn, c.tn) == (4, 1, 3, 3)
    assert c.precision == 4 / 5
    assert c.recall == 4 / 7
    hits = {rule: (t.hits, t.fraud, t.legit) for rule, t in report.rules.items()}
    assert hits == {
        "new_device": (2, 1, 1),
        "recent_change": (1, 1, 0),
        "unusual_amount": (1, 1, 0),
        "charge_after_new_link": (1, 1, 0),
        "new_account_money": (2, 2, 0),
    }
    # The examples name the events behind each rule, oldest first.
    assert examples_of(report, "new_device") == [
        (await event_id(fraud, "cus_c", "login_succeeded", timedelta(hours=6)), "cus_c"),
        (await event_id(fraud, "cus_taken", "login_succeeded", timedelta(hours=3)), "cus_taken"),
    ]
    assert examples_of(report, "new_account_money") == [
        (await event_id(fraud, "cus_fake", "bank_account_linked", timedelta(minutes=10)), "cus_fake"),
        (await event_id(fraud, "cus_fake", "charge_requested", timedelta(minutes=5)), "cus_fake"),
    ]
    (charge,) = report.rules["charge_after_new_link"].examples
    assert (charge.operation, charge.score, charge.action, charge.label) == ("charge", 65, "review", "fraud")
    assert charge.at == NOW - timedelta(minutes=5)
    assert [reason for _, _, reason in charge.reasons] == [
        "charge 5 min after the bank account was linked",
        "account opened 4.9 h ago",
    ]
    (withdrawal,) = report.rules["recent_change"].examples
    assert withdrawal.event_id == await event_id(fraud, "cus_taken", "withdrawal_requested", timedelta(hours=1))
    assert {reason for _, _, reason in withdrawal.reasons} == {
        "phone changed 1 h ago",
        "amount 100000 yen far above the usual 10290 yen",
    }

    as_json = report.to_json()
    assert json.loads(json.dumps(as_json)) == as_json
    assert as_json["confusion"] == {"tp": 4, "fp": 1, "fn": 3, "tn": 3}
    assert (as_json["rule_set_version"], as_json["precision"], as_json["recall"]) == (7, 0.8, 4 / 7)
    assert as_json["rules"]["new_device"]["examples"][1]["at"] == (NOW - timedelta(hours=3)).isoformat()
    assert report.customers_shown() == ["cus_c", "cus_fake", "cus_taken"]


@pytest.mark.req("MON-3")
async def test_the_same_draft_with_those_rules_disabled_finds_no_fraud(fraud: Fraud) -> None:
    await history(fraud)
    report = await replay(fraud, focused(enabled=False))
    assert report.actions == {"allow": 12, "step_up": 0, "review": 0, "deny": 0}
    c = report.confusion
    assert (c.tp, c.fp, c.fn, c.tn) == (0, 0, 7, 4)
    assert c.recall == 0.0
    assert c.precision is None  # nothing flagged: undefined, not 0
    assert set(report.rules) == {"failed_logins"}
    assert report.to_json()["precision"] is None


@pytest.mark.req("MON-3")
async def test_pages_of_any_size_give_the_same_report_and_progress_is_reported_as_it_goes(fraud: Fraud) -> None:
    """Five logins share one instant (1 day and 1 minute ago): pages of two split them, and none is lost or
    replayed twice."""
    await history(fraud)
    calls: list[tuple[int, int]] = []
    paged = await replay(fraud, focused(), page_size=2, progress=lambda done, total: calls.append((done, total)))
    whole = await replay(fraud, focused())
    assert paged.to_json() | {"seconds": 0, "events_per_second": 0} == whole.to_json() | {
        "seconds": 0,
        "events_per_second": 0,
    }
    assert calls == [(done, 12) for done in range(13)]


@pytest.mark.req("MON-3")
async def test_deny_lists_and_snoozed_rules_count_as_they_were_at_each_event(fraud: Fraud) -> None:
    """A device deny-listed 2 h ago denies only what came after; a rule snoozed for a while and lifted is skipped
    only while it was in force."""
    await ordinary(fraud, "cus_m", "phone-m", days=10)
    for hours in (3, 1):
        await fraud.event("login_succeeded", ago=timedelta(hours=hours), customer="cus_m", device="phone-mule")
    for hours in (5, 4):  # a new phone each time: new_device would hit both
        await fraud.event("login_succeeded", ago=timedelta(hours=hours), customer="cus_s", device=f"phone-s{hours}")
    await fraud.event("account_opened", ago=timedelta(days=9), customer="cus_s", device=None)
    database = fraud.app.state.service.database
    async with database.transaction() as session:
        await lists.add_entry(
            session,
            list_name="devices",
            kind="deny",
            value="phone-mule",
            note="mule phone",
            expires_at=None,
            source="stf_test",
            now=NOW - timedelta(hours=2),
        )
        snooze = await cases.add_suppression(
            session,
            rule_id="new_device",
            entity_type="customer",
            entity_value="cus_s",
            until=NOW + timedelta(days=1),
            note="changes phones often",
            by="stf_test",
            now=NOW - timedelta(hours=6),
        )
        await cases.lift_suppression(
            session, suppression_id=snooze.id, by="stf_test", now=NOW - timedelta(hours=4, minutes=30)
        )
    body = focused().model_dump()
    body["rules"].append(
        {"id": "deny_list", "kind": "deny_list", "weight": 100, "reason": "on the deny list ({lists})"}
    )
    report = await replay(fraud, RuleSetBody.model_validate(body))

    (denied,) = report.rules["deny_list"].examples
    assert (denied.customer_id, denied.at, denied.action) == ("cus_m", NOW - timedelta(hours=1), "deny")
    assert "on the deny list (device)" in [reason for _, _, reason in denied.reasons]
    new_devices = [(e.customer_id, e.at) for e in report.rules["new_device"].examples]
    assert ("cus_s", NOW - timedelta(hours=5)) not in new_devices  # snoozed then
    assert ("cus_s", NOW - timedelta(hours=4)) in new_devices  # lifted by then


async def test_a_period_that_ends_before_it_starts_is_refused(fraud: Fraud) -> None:
    with pytest.raises(Problem) as refused:
        await run_backtest(fraud.app.state.service.database.reading, focused(), since=UNTIL, until=SINCE)
    assert refused.value.status == 422
    with pytest.raises(rule_sets.RuleSetNotFound):
        await backtest_version(fraud.app.state.service.database.reading, version=99, since=SINCE, until=UNTIL)


# ---- the command line -----------------------------------------------------------------------------------------------


@pytest.mark.req("MON-3")
async def test_sekisho_fraud_backtest_runs_on_the_embedded_data_dir_with_a_progress_bar(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    backend = new_backend("sqlite", tmp_path, None)  # the embedded mode: SQLite files under SEKISHO_DATA_DIR
    await migrate(backend, "fraud")
    clock = FrozenClock(NOW)
    app = create_app(backend.settings("fraud"), clock=clock)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        fraud = Fraud(app, clock, client)
        await history(fraud)
        async with app.state.service.database.transaction() as session:
            draft = await rule_sets.create_draft(
                session, body=focused(), note="the two frauds", created_by="stf_test", now=NOW
            )
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env["SEKISHO_DATA_DIR"] = str(backend.data_dir)
    command = [*CLI, "--version", str(draft.version)]
    command += ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat().replace("+00:00", "Z")]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*command, *extra], env=env, capture_output=True, timeout=120, check=False)
        # Bytes, decoded here: text mode would turn the bar's carriage returns into newlines.
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())

    table = await asyncio.to_thread(run)
    assert table.returncode == 0, table.stderr
    assert re.search(r"\r\[#{20}\] 12/12 events  [\d,]+/s\n$", table.stderr), table.stderr
    assert "\r[" + "." * 20 + "] 0/12 events" in table.stderr
    assert f"rule set v{draft.version}" in table.stdout
    assert re.search(r"flagged\s+4\s+1\s+tp / fp", table.stdout), table.stdout
    assert re.search(r"not flagged\s+3\s+3\s+fn / tn", table.stdout), table.stdout
    assert "precision 0.800   recall 0.571" in table.stdout
    assert re.search(r"new_account_money\s+2\s+2\s+0", table.stdout)

    as_json = await asyncio.to_thread(run, "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["confusion"] == {"tp": 4, "fp": 1, "fn": 3, "tn": 3}
    assert report["events"] == 12
    report_figure(
        f"CLI backtest on SQLite: {report['events']} events in {report['seconds']} s, "
        f"{report['events_per_second']:,.0f} events/s (the first event's start-up included)"
    )

    command[command.index("--version") + 1] = "99"
    unknown = await asyncio.to_thread(run)
    assert unknown.returncode == 1
    assert "There is no rule set version 99." in unknown.stderr


def test_the_command_refuses_a_time_without_a_zone() -> None:
    result = subprocess.run(
        [*CLI, "--version", "1", "--since", "2026-11-01T00:00:00", "--until", "2026-11-02T00:00:00Z"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "has no time zone" in result.stderr
