"""Factories of the money a fraud moved, and the disputes tests' staff and look-ups.

The postings stand in for a completed withdrawal and a completed charge: the smartphone-ATM and bank-link flows that
make them through the public API are other parts of txn (tests/txn/test_atm*, test_charges*), built beside this one.
Each factory posts what completion posts, through `ledger.post` itself, in one transaction of txn's database, and a
withdrawal records its debt with `credit_information.record_debt` as completion does. Everything else the dispute
tests do goes through the gateway.
"""

from __future__ import annotations

from typing import Any

from services.txn import books, credit_information, ledger
from services.txn.ledger import Leg, PostingKind
from shared.ids import new_id
from tests.harness import System
from tests.kyc.conftest import staff_headers

PARTNER = "ptn_01jd7x00000000000000000000"
BANK = "0005"


async def completed_withdrawal(system: System, customer_id: str, amount: int, *, partner_id: str = PARTNER) -> str:
    """A withdrawal at a partner's ATM on the customer's credit line, completed: its posting id. The clock moves a
    second first, so postings keep the order they were made in."""
    system.clock.advance(seconds=1)  # type: ignore[attr-defined]
    now = system.clock.now()
    async with _txn(system).database.transaction() as session:
        posted = await ledger.post(
            session,
            kind=PostingKind.WITHDRAWAL,
            reference=new_id("atz"),
            customer_id=customer_id,
            amount=amount,
            legs=[Leg(ledger.credit_account(customer_id), amount), Leg(ledger.atm_account(partner_id), -amount)],
            actor=f"partner:{partner_id}",
            at=now,
            memo="ATM withdrawal",
        )
        await credit_information.record_debt(session, customer_id, posted.posting_id, amount, now)
    return posted.posting_id


async def completed_charge(system: System, customer_id: str, amount: int, *, bank_code: str = BANK) -> str:
    """A charge into the customer's wallet from a linked account at `bank_code`, completed: its posting id."""
    system.clock.advance(seconds=1)  # type: ignore[attr-defined]
    async with _txn(system).database.transaction() as session:
        posted = await ledger.post(
            session,
            kind=PostingKind.CHARGE,
            reference=new_id("chg"),
            customer_id=customer_id,
            amount=amount,
            legs=[Leg(ledger.bank_account(bank_code), amount), Leg(ledger.wallet_account(customer_id), -amount)],
            actor="customer",
            at=system.clock.now(),
            memo="charge",
        )
    return posted.posting_id


async def completed_repayment(system: System, customer_id: str, amount: int) -> str:
    """The customer paying back on the line (repayments are another part of txn): money in, owed less."""
    system.clock.advance(seconds=1)  # type: ignore[attr-defined]
    async with _txn(system).database.transaction() as session:
        posted = await ledger.post(
            session,
            kind=PostingKind.REPAYMENT,
            reference=new_id("rpy"),
            customer_id=customer_id,
            amount=amount,
            legs=[Leg(ledger.bank_account("9900"), amount), Leg(ledger.credit_account(customer_id), -amount)],
            actor="customer",
            at=system.clock.now(),
        )
    return posted.posting_id


async def books_report(system: System) -> books.BooksReport:
    """`sekisho books check`, read from txn's database."""
    async with _txn(system).database.transaction() as session:
        return await books.check_books(session)


async def balance(system: System, account: str) -> int:
    async with _txn(system).database.transaction() as session:
        return await ledger.balance(session, account)


async def staff(system: System, role: str) -> dict[str, str]:
    """A new staff member of `role`, signed in: their headers."""
    return await staff_headers(system, new_id(role[:3])[:24], role)


def _txn(system: System) -> Any:
    return system.apps["txn"].state.service
