"""Scoring (MON-3): each rule on a constructed history, and the two frauds that made this product.

Histories are posted to fraud as the producing services post them (/internal/events), then the gateway's
question is asked (/score). Every answer names its reasons and the rule-set version that gave it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.fraud.app import create_app
from services.fraud.models import score as score_table
from shared.clock import FrozenClock
from shared.ids import new_id
from shared.middleware import IDENTITY_HEADER
from tests.harness import Backend, client_for, identity_issuer, migrate, running
from tests.servers import eventually_async

# Real addresses, so that the offline database places them: two Japanese carriers, a Korean and a US network.
HOME_IP = "126.0.0.1"  # SoftBank, JP
HOME_IP_2 = "126.0.0.2"
OFFICE_IP = "153.156.0.1"  # NTT Communications, JP
KOREA_IP = "1.208.0.1"  # LG DACOM, KR
US_IP = "8.8.8.8"  # GOOGLE, US
# Weekday mornings in Japan (JST = UTC+9): 09:00-10:00 JST.
NOW = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)


@dataclass
class Fraud:
    app: FastAPI
    clock: FrozenClock
    client: httpx.AsyncClient

    def _as(self, service: str) -> dict[str, str]:
        """A fresh identity of `service` for each call: tests move the clock by days."""
        return {IDENTITY_HEADER: identity_issuer(service, self.clock).issue("fraud")}

    async def event(
        self,
        type: str,
        *,
        ago: timedelta,
        customer: str | None = "cus_hanako",
        device: str | None = "phone-hanako",
        ip: str | None = HOME_IP,
        outcome: str = "ok",
        device_id: str | None = None,
        **data: Any,
    ) -> None:
        if device is not None:
            data["device_key"] = device
        response = await self.client.post(
            "/internal/events",
            headers=self._as("auth"),
            json={
                "event_id": new_id("evt"),
                "type": type,
                "occurred_at": (self.clock.now() - ago).isoformat(),
                "customer_id": customer,
                "device_id": device_id,
                "ip": ip,
                "outcome": outcome,
                "data": data,
            },
        )
        assert response.status_code == 201, response.text

    async def score(self, operation: str, **context: Any) -> dict[str, Any]:
        context.setdefault("customer_id", "cus_hanako")
        context.setdefault("device_key", "phone-hanako")
        context.setdefault("ip", HOME_IP)
        response = await self.client.post(
            "/score", headers=self._as("gateway"), json={"operation": operation, **context}
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def ordinary_customer(self, *, days: int = 60, amount: int = 10000) -> None:
        """Hanako: account opened `days` ago, logs in from her phone at home most weekday mornings, withdraws
        about `amount` yen once a week."""
        await self.event("account_opened", ago=timedelta(days=days), device=None)
        for day in range(1, days, 2):
            await self.event("login_succeeded", ago=timedelta(days=day, minutes=day % 7))
            if day % 7 == 1:
                await self.event("withdrawal_completed", ago=timedelta(days=day, minutes=-5), amount=amount + day * 10)


@pytest.fixture
async def fraud(backend: Backend) -> AsyncIterator[Fraud]:
    await migrate(backend, "fraud")
    clock = FrozenClock(NOW)
    app = create_app(backend.settings("fraud"), clock=clock)  # type: ignore[arg-type]
    async with running(app), client_for(app) as client:
        yield Fraud(app, clock, client)


def rules_of(answer: dict[str, Any]) -> set[str]:
    return {reason["rule"] for reason in answer["reasons"]}


# --- the scenarios of the issue ----------------------------------------------------------------------------


@pytest.mark.req("MON-3")
async def test_an_ordinary_customers_everyday_withdrawal_is_allowed(fraud: Fraud) -> None:
    await fraud.ordinary_customer()
    answer = await fraud.score("withdrawal", amount=12000, max_amount=100000)
    assert answer["action"] == "allow", answer
    assert answer["score"] < 30
    assert answer["rule_set_version"] == 1


@pytest.mark.req("MON-3")
async def test_an_account_takeover_is_stepped_up_or_denied_with_reasons_that_name_it(fraud: Fraud) -> None:
    """Stolen password, the criminal's own phone, the phone number changed, then a first withdrawal at the maximum
    (the smartphone-ATM fraud)."""
    await fraud.ordinary_customer()
    await fraud.event("login_succeeded", ago=timedelta(hours=3), device="phone-criminal", ip=OFFICE_IP)
    await fraud.event(
        "attribute_changed", ago=timedelta(hours=2), device="phone-criminal", ip=OFFICE_IP, attributes=["phone"]
    )
    answer = await fraud.score(
        "withdrawal", amount=100000, max_amount=100000, device_key="phone-criminal-2", ip=OFFICE_IP
    )
    assert answer["action"] in ("step_up", "review", "deny"), answer
    assert answer["score"] >= 60
    assert {"new_device", "recent_change", "unusual_amount"} <= rules_of(answer)
    assert "new device" in answer["summary"]
    assert "phone changed 2 h ago" in answer["summary"]


@pytest.mark.req("MON-3")
async def test_the_docomo_pattern_is_stepped_up_or_denied_with_reasons_that_name_it(fraud: Fraud) -> None:
    """A new account in a victim's name, their bank account linked with the PIN alone, a large charge at once."""
    await fraud.event("account_opened", ago=timedelta(hours=5), customer="cus_fake", device="phone-x")
    await fraud.event("login_succeeded", ago=timedelta(hours=5), customer="cus_fake", device="phone-x")
    await fraud.event(
        "bank_account_linked", ago=timedelta(minutes=5), customer="cus_fake", device="phone-x", bank_account="ba_victim"
    )
    answer = await fraud.score(
        "charge", customer_id="cus_fake", device_key="phone-x", amount=200000, bank_account="ba_victim"
    )
    assert answer["action"] in ("step_up", "review", "deny"), answer
    assert {"charge_after_new_link", "new_account_money"} <= rules_of(answer)
    assert "charge 5 min after the bank account was linked" in answer["summary"]
    assert "account opened 5 h ago" in answer["summary"]


async def test_every_answer_is_recorded_with_the_rule_set_version(fraud: Fraud) -> None:
    await fraud.ordinary_customer(days=10)
    answer = await fraud.score("withdrawal", amount=5000)
    state = fraud.app.state.service

    async def recorded() -> bool:  # an answer without actions is written just after it is sent
        async with state.database.transaction() as session:
            return len((await session.execute(select(score_table))).all()) == 1

    await eventually_async(recorded)
    async with state.database.transaction() as session:
        (row,) = (await session.execute(select(score_table))).all()
    assert (row.id, row.score, row.action, row.rule_set_version) == (
        answer["score_id"],
        answer["score"],
        answer["action"],
        1,
    )
    assert row.operation == "withdrawal"
    assert row.amount == 5000


# --- each rule on its own history ----------------------------------------------------------------------------


@pytest.mark.req("MON-3")
async def test_new_device(fraud: Fraud) -> None:
    await fraud.ordinary_customer(days=10)
    assert "new_device" not in rules_of(await fraud.score("login"))
    assert "new_device" in rules_of(await fraud.score("login", device_key="phone-unknown"))


@pytest.mark.req("MON-3")
async def test_the_sessions_device_id_is_known_by_its_device_key(fraud: Fraud) -> None:
    """The gateway knows the session's device by auth's id; fraud finds the phone's own key from the events."""
    await fraud.ordinary_customer(days=10)
    await fraud.event("login_succeeded", ago=timedelta(hours=1), device_id="dev_auth_1")
    known = await fraud.score("login", device_key=None, device_id="dev_auth_1")
    assert "new_device" not in rules_of(known)
    await fraud.event("login_succeeded", ago=timedelta(hours=1), customer="cus_b", device="phone-hanako")
    await fraud.event("login_succeeded", ago=timedelta(hours=1), customer="cus_c", device="phone-hanako")
    assert "mule_device" in rules_of(await fraud.score("login", device_key=None, device_id="dev_auth_1"))


@pytest.mark.req("MON-3")
async def test_unusual_country_and_network(fraud: Fraud) -> None:
    await fraud.ordinary_customer(days=10)
    usual = rules_of(await fraud.score("login", ip=HOME_IP_2))
    assert not {"unusual_country", "unusual_network"} & usual
    abroad = await fraud.score("login", ip=US_IP)
    assert {"unusual_country", "unusual_network"} <= rules_of(abroad)
    assert "unusual country US (usually JP)" in abroad["summary"]


@pytest.mark.req("MON-3")
async def test_impossible_travel(fraud: Fraud) -> None:
    await fraud.event("login_succeeded", ago=timedelta(minutes=30), ip=HOME_IP)
    assert "impossible_travel" in rules_of(await fraud.score("login", ip=US_IP))
    fraud.clock.advance(hours=14)
    assert "impossible_travel" not in rules_of(await fraud.score("login", ip=US_IP))


@pytest.mark.req("MON-3", "AUTH-LOGIN-3")
async def test_many_failed_logins(fraud: Fraud) -> None:
    for i in range(4):
        await fraud.event("login_failed", ago=timedelta(minutes=10 + i), outcome="wrong_password")
    assert "failed_logins" not in rules_of(await fraud.score("login"))
    await fraud.event("login_failed", ago=timedelta(minutes=5), outcome="wrong_password")
    assert "failed_logins" in rules_of(await fraud.score("login"))


@pytest.mark.req("MON-3")
async def test_one_ip_across_many_customers_is_credential_stuffing(fraud: Fraud) -> None:
    for i in range(4):
        await fraud.event("login_failed", ago=timedelta(minutes=i + 1), customer=f"cus_{i}", ip=KOREA_IP, device=None)
    assert "credential_stuffing" not in rules_of(await fraud.score("login", ip=KOREA_IP))
    await fraud.event("login_failed", ago=timedelta(minutes=9), customer="cus_9", ip=KOREA_IP, device=None)
    answer = await fraud.score("login", ip=KOREA_IP)
    assert "credential_stuffing" in rules_of(answer)
    assert "used by 5 customers" in answer["summary"]


@pytest.mark.req("MON-3")
async def test_one_device_across_many_customers_is_a_mule_phone(fraud: Fraud) -> None:
    for customer in ("cus_a", "cus_b"):
        await fraud.event("login_succeeded", ago=timedelta(days=2), customer=customer, device="phone-mule")
    assert "mule_device" not in rules_of(await fraud.score("login", device_key="phone-mule"))
    await fraud.event("login_succeeded", ago=timedelta(days=1), customer="cus_c", device="phone-mule")
    assert "mule_device" in rules_of(await fraud.score("login", device_key="phone-mule"))


@pytest.mark.req("MON-3")
async def test_one_bank_account_linked_by_two_customers(fraud: Fraud) -> None:
    await fraud.event("bank_account_linked", ago=timedelta(days=3), customer="cus_other", bank_account="ba_1")
    answer = await fraud.score("bank_link", bank_account="ba_1")
    assert "shared_bank_account" not in rules_of(answer)  # one customer so far: the other one
    await fraud.event("bank_account_linked", ago=timedelta(days=1), bank_account="ba_1")
    assert "shared_bank_account" in rules_of(await fraud.score("charge", bank_account="ba_1", amount=1000))


@pytest.mark.req("MON-3")
@pytest.mark.parametrize(
    ("event", "attributes", "named"),
    [
        ("attribute_changed", ["phone"], "phone"),
        ("attribute_changed", ["email"], "email"),
        ("password_changed", None, "password"),
        ("password_reset", None, "password"),
        ("factor_changed", None, "mfa"),
        ("recovery_code_used", None, "recovery_code"),
        ("recovery_codes_regenerated", None, "mfa"),
    ],
)
async def test_a_recent_change_before_money_moves(
    fraud: Fraud, event: str, attributes: list[str] | None, named: str
) -> None:
    await fraud.ordinary_customer(days=10)
    extra = {"attributes": attributes} if attributes else {}
    await fraud.event(event, ago=timedelta(hours=2), **extra)
    answer = await fraud.score("withdrawal", amount=10000)
    assert "recent_change" in rules_of(answer)
    assert f"{named} changed 2 h ago" in answer["summary"]
    assert "recent_change" not in rules_of(await fraud.score("login"))  # money movement only
    fraud.clock.advance(days=4)
    assert "recent_change" not in rules_of(await fraud.score("withdrawal", amount=10000))


@pytest.mark.req("MON-3")
async def test_a_charge_soon_after_a_new_bank_link(fraud: Fraud) -> None:
    await fraud.ordinary_customer(days=30)
    await fraud.event("bank_account_linked", ago=timedelta(minutes=20), bank_account="ba_2")
    assert "charge_after_new_link" in rules_of(await fraud.score("charge", bank_account="ba_2", amount=3000))
    fraud.clock.advance(days=2)
    assert "charge_after_new_link" not in rules_of(await fraud.score("charge", bank_account="ba_2", amount=3000))


@pytest.mark.req("MON-3")
async def test_an_amount_unusual_for_the_customer(fraud: Fraud) -> None:
    await fraud.ordinary_customer(days=60, amount=10000)
    assert "unusual_amount" not in rules_of(await fraud.score("withdrawal", amount=15000))
    answer = await fraud.score("withdrawal", amount=80000)
    assert "unusual_amount" in rules_of(answer)
    assert "amount 80000 yen far above the usual" in answer["summary"]


@pytest.mark.req("MON-3")
async def test_a_first_withdrawal_at_the_lines_maximum(fraud: Fraud) -> None:
    await fraud.event("account_opened", ago=timedelta(days=200), device=None)
    assert "first_at_maximum" in rules_of(await fraud.score("withdrawal", amount=100000, max_amount=100000))
    assert "first_at_maximum" not in rules_of(await fraud.score("withdrawal", amount=20000, max_amount=100000))
    await fraud.event("withdrawal_completed", ago=timedelta(days=10), amount=50000)
    assert "first_at_maximum" not in rules_of(await fraud.score("withdrawal", amount=100000, max_amount=100000))


@pytest.mark.req("MON-3")
async def test_velocity_of_count_and_amount(fraud: Fraud) -> None:
    await fraud.ordinary_customer(days=30)
    for minutes in (50, 40, 30, 20):
        await fraud.event("withdrawal_requested", ago=timedelta(minutes=minutes), amount=10000)
    assert "velocity" not in rules_of(await fraud.score("withdrawal", amount=10000))
    await fraud.event("withdrawal_requested", ago=timedelta(minutes=10), amount=10000)
    assert "velocity" in rules_of(await fraud.score("withdrawal", amount=10000))
    fraud.clock.advance(hours=2)
    assert "velocity" not in rules_of(await fraud.score("withdrawal", amount=10000))
    await fraud.event("withdrawal_completed", ago=timedelta(hours=3), amount=250000)
    assert "velocity" in rules_of(await fraud.score("withdrawal", amount=60000))  # over 300,000 yen in 24 hours


@pytest.mark.req("MON-3")
async def test_an_hour_the_customer_is_never_active(fraud: Fraud) -> None:
    await fraud.ordinary_customer(days=60)
    assert "unusual_hour" not in rules_of(await fraud.score("login"))
    fraud.clock.advance(hours=15)  # 03:30 JST
    assert "unusual_hour" in rules_of(await fraud.score("login"))


@pytest.mark.req("MON-3")
async def test_a_recently_opened_account_moving_money(fraud: Fraud) -> None:
    await fraud.event("account_opened", ago=timedelta(days=2), device=None)
    answer = await fraud.score("withdrawal", amount=1000)
    assert "new_account_money" in rules_of(answer)
    assert "account opened 48 h ago" in answer["summary"]
    fraud.clock.advance(days=8)
    assert "new_account_money" not in rules_of(await fraud.score("withdrawal", amount=1000))


async def test_a_malformed_question_is_refused_with_a_problem_and_records_nothing(fraud: Fraud) -> None:
    response = await fraud.client.post(
        "/score", headers=fraud._as("gateway"), json={"operation": "Withdrawal!", "amount": -5}
    )
    assert response.status_code == 422
    assert {v["field"] for v in response.json()["violations"]} == {"operation", "amount"}
    state = fraud.app.state.service
    async with state.database.transaction() as session:
        assert (await session.execute(select(score_table))).all() == []


async def test_more_scores_at_once_than_the_pool_has_connections_are_all_answered(fraud: Fraud) -> None:
    """Each score reads on two connections (PostgreSQL): with the pool of 2 these tests run with, 8 scores at once
    used to take one connection each and wait for a second forever (txn's concurrent charges found it)."""
    await fraud.ordinary_customer()
    answers = await asyncio.wait_for(
        asyncio.gather(*(fraud.score("withdrawal", amount=10_000 + i) for i in range(8))), timeout=20
    )
    assert len({answer["score_id"] for answer in answers}) == 8
