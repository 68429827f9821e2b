"""The books balance after any sequence of money operations (issue 15): hypothesis draws sequences of withdrawals
authorized, completed, reversed or left to expire, charges into the wallet, reliefs of completed withdrawals and
changes of the credit line, for two customers; after each sequence `check_books` finds the books balanced, and every
customer's account is what the operations add up to (a model kept beside them), never past the line.

The partner's authorize, complete and reverse, the charge and the relief go through the gateway (signed, stepped
up); the customer's withdrawal request is atm_network's factory (its step-up is tests/txn/test_withdrawals.py's).
Examples run one after another on one system: each continues the books the previous ones left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sekisho.sinks import SmsSink
from services.txn import credit_lines, ledger
from tests.harness import System
from tests.txn.atm_network import Partner, books_check, create_partner, requested_withdrawal, sweep, txn_runtime
from tests.txn.banking import charge, customer_with_link, sign_in_again, stepped_up
from tests.txn.conftest import Customer, set_credit_line
from tests.txn.fraud_postings import staff

pytestmark = pytest.mark.usefixtures("fraud_allows")

AMOUNTS = st.sampled_from([1_000, 5_000, 20_000, 50_000, 120_000])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("withdraw"), st.integers(0, 1), AMOUNTS),
        st.tuples(st.just("complete"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("reverse"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("expire"), st.just(0), st.just(0)),
        st.tuples(st.just("charge"), st.integers(0, 1), st.sampled_from([1_000, 10_000, 30_000])),
        st.tuples(st.just("relieve"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("line"), st.integers(0, 1), st.sampled_from([0, 100_000, 300_000])),
    ),
    min_size=3,
    max_size=8,
)


@dataclass
class Borrower:
    customer: Customer
    link_id: str
    limit: int = 200_000
    outstanding: int = 0
    wallet: int = 0
    held: dict[str, int] = field(default_factory=dict)  # authorization id -> amount
    completed: dict[str, int] = field(default_factory=dict)  # authorization id -> amount, not yet relieved


@dataclass
class World:
    system: System
    sms: SmsSink
    partner: Partner
    borrowers: list[Borrower]


@pytest.fixture
async def world(system: System, sms: SmsSink) -> World:
    """Two verified customers, each with a credit line and a bank account linked long enough ago to charge from;
    one partner. Built once per test: every example continues on it."""
    borrowers = []
    for i in range(2):
        customer, link_id, _ = await customer_with_link(
            system, sms, email=f"books{i}@example.jp", phone=f"090-5555-000{i}", account_number=f"700000{i}"
        )
        await set_credit_line(system, customer.customer_id, 200_000)
        borrowers.append(Borrower(customer, link_id))
    for b in borrowers:  # the second customer's setup moved the clock past the first one's session
        await sign_in_again(system, sms, b.customer)
    return World(system, sms, await create_partner(system, "books-atm"), borrowers)


async def _apply(world: World, operation: tuple[str, int, int]) -> None:
    kind, index, amount = operation
    system, partner = world.system, world.partner
    if kind == "withdraw":
        b = world.borrowers[index]
        session_id, code = await requested_withdrawal(system, partner, b.customer.customer_id, amount)
        answered = await partner.authorize(session_id, code, amount)
        assert answered.status_code == 200, answered.text
        fits = amount <= b.limit - b.outstanding - sum(b.held.values())
        assert (answered.json()["decision"] == "approved") == fits, (answered.text, b)
        if fits:
            b.held[answered.json()["authorization_id"]] = amount
        event(f"withdrawal {'approved' if fits else 'declined'}")
    elif kind in ("complete", "reverse"):
        pending = [(b, a) for b in world.borrowers for a in b.held]
        if not pending:
            return
        b, authorization_id = pending[index % len(pending)]
        answered = await (partner.complete if kind == "complete" else partner.reverse)(authorization_id)
        assert answered.status_code == 200, answered.text
        amount = b.held.pop(authorization_id)
        event(f"withdrawal {kind}d")
        if kind == "complete":
            b.outstanding += amount
            b.completed[authorization_id] = amount
    elif kind == "expire":
        await _later(world, txn_runtime(system).settings.txn_hold_seconds + 1)
    elif kind == "charge":
        b = world.borrowers[index]
        answered = await charge(system, world.sms, b.customer, b.link_id, amount)
        event(f"charge {answered.status_code}")
        if answered.status_code == 201:
            b.wallet += amount
        else:  # the month's cap: refused with its reason, nothing moved
            assert (answered.status_code, answered.json()["code"]) == (409, "monthly_cap_exceeded"), answered.text
    elif kind == "relieve":
        done = [(b, a) for b in world.borrowers for a in b.completed]
        if not done:
            return
        b, authorization_id = done[index % len(done)]
        await _relieve(world, b, authorization_id)
    else:
        b = world.borrowers[index]
        await set_credit_line(system, b.customer.customer_id, amount)
        b.limit = amount


async def _later(world: World, seconds: int) -> None:
    """Time passes: holds past their time expire (the sweeper), and the customers sign in again."""
    world.system.clock.advance(seconds=seconds)  # type: ignore[attr-defined]
    await sweep(world.system)
    for b in world.borrowers:
        b.held.clear()
        await sign_in_again(world.system, world.sms, b.customer)


async def _relieve(world: World, b: Borrower, authorization_id: str) -> None:
    """The victim disputes the completed withdrawal, declaring they will not bear it; a supervisor relieves it."""
    system = world.system
    runtime = txn_runtime(system)
    async with runtime.database.transaction() as session:
        posting_id = await ledger.posting_for(session, ledger.PostingKind.WITHDRAWAL, authorization_id)
    body = {"transaction_ids": [posting_id], "description": "not me", "declares_not_liable": True}
    opened = await stepped_up(system, world.sms, b.customer, "/v1/me/disputes", body)
    assert opened.status_code == 201, opened.text
    relieved = await system.gateway.post(
        f"/v1/ops/disputes/{opened.json()['dispute_id']}/relief",
        json={"note": "relief policy"},
        headers=await staff(system, "supervisor"),
    )
    assert relieved.status_code == 200, relieved.text
    b.outstanding -= b.completed.pop(authorization_id)
    event("relief applied")


async def _accounts_agree(world: World) -> None:
    report = await books_check(world.system)
    assert report.balanced, report.to_text()
    runtime = txn_runtime(world.system)
    for b in world.borrowers:  # what GET /v1/me/account shows (tests/txn/test_withdrawals.py reads it over HTTP)
        async with runtime.database.reading() as session:
            seen = await credit_lines.summary(session, b.customer.customer_id)
        assert (seen.outstanding, seen.held, seen.wallet_balance) == (b.outstanding, sum(b.held.values()), b.wallet)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=OPERATIONS)
async def test_the_books_balance_after_any_sequence_of_operations(
    world: World, sequence: list[tuple[str, int, int]]
) -> None:
    await _later(world, 3601)  # an hour between sequences: the codes sent per customer and hour start again
    for operation in sequence:
        await _apply(world, operation)
        await _accounts_agree(world)
