"""The ledger and its proof (`sekisho books check`): postings balance, post once per event, and a changed or
removed entry is found. Domain tests on a migrated txn database; the money flows themselves are tested over HTTP
in the other tests/txn modules, each ending with the books checked."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from services.txn import ledger, models
from services.txn.books import check_books
from services.txn.ledger import Leg, PostingKind, UnbalancedPosting
from shared.database import Database, target_for
from tests.harness import Backend, migrate

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


async def _migrated(backend: Backend) -> Database:
    await migrate(backend, "txn")
    return Database(target_for(backend.settings("txn"), "txn"), pool_size=4)


@pytest.fixture
async def database(backend: Backend) -> AsyncIterator[Database]:
    db = await _migrated(backend)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def postgres_database(postgres_backend: Backend) -> AsyncIterator[Database]:
    db = await _migrated(postgres_backend)
    try:
        yield db
    finally:
        await db.dispose()


async def withdraw(db: Database, customer: str, reference: str, amount: int) -> ledger.Posted:
    async with db.transaction() as session:
        return await ledger.post(
            session,
            kind=PostingKind.WITHDRAWAL,
            reference=reference,
            customer_id=customer,
            amount=amount,
            legs=[Leg(ledger.credit_account(customer), amount), Leg(ledger.atm_account("prt_seven"), -amount)],
            actor="partner:prt_seven",
            at=AT,
        )


async def test_postings_balance_and_the_same_event_posts_once(database: Database) -> None:
    first = await withdraw(database, "cus_a", "aut_1", 20_000)
    again = await withdraw(database, "cus_a", "aut_1", 20_000)
    assert (first.created, again.created, again.posting_id) == (True, False, first.posting_id)
    await withdraw(database, "cus_b", "aut_2", 5_000)
    async with database.reading() as session:
        report = await check_books(session)
        assert await ledger.balance(session, ledger.credit_account("cus_a")) == 20_000
        assert await ledger.balance(session, ledger.atm_account("prt_seven")) == -25_000
    assert report.balanced, report.problems
    assert (report.postings, report.entries, report.total) == (2, 4, 0)
    assert report.by_kind == {"withdrawal": 25_000}


async def test_unbalanced_or_empty_legs_never_reach_the_books(database: Database) -> None:
    async with database.transaction() as session:
        for legs in (
            [Leg("customer:cus_a:credit", 100), Leg("partner:prt_seven:atm", -99)],
            [Leg("customer:cus_a:credit", 100)],
            [Leg("customer:cus_a:credit", 0), Leg("partner:prt_seven:atm", 0)],
        ):
            with pytest.raises(UnbalancedPosting):
                await ledger.post(
                    session,
                    kind=PostingKind.WITHDRAWAL,
                    reference="aut_x",
                    customer_id="cus_a",
                    amount=100,
                    legs=legs,
                    actor="system",
                    at=AT,
                )
    async with database.reading() as session:
        assert (await check_books(session)).postings == 0


async def test_a_changed_or_removed_entry_is_found(database: Database) -> None:
    await withdraw(database, "cus_a", "aut_1", 20_000)
    posted = await withdraw(database, "cus_b", "aut_2", 5_000)
    e = models.entry
    async with database.transaction() as session:  # what an intruder with database access would do
        await session.execute(update(e).where(e.c.posting_id == posted.posting_id, e.c.amount > 0).values(amount=4_000))
    async with database.reading() as session:
        changed = await check_books(session)
    assert not changed.balanced
    assert any(posted.posting_id in problem and "sum to -1000" in problem for problem in changed.problems)
    async with database.transaction() as session:
        await session.execute(delete(e).where(e.c.posting_id == posted.posting_id, e.c.amount < 0))
    async with database.reading() as session:
        removed = await check_books(session)
    assert any("has 1 entries" in problem for problem in removed.problems), removed.problems


@pytest.mark.postgres
async def test_concurrent_posts_of_one_event_move_money_once(postgres_database: Database) -> None:
    database = postgres_database
    results = await asyncio.gather(*(withdraw(database, "cus_a", "aut_race", 10_000) for _ in range(20)))
    assert sum(result.created for result in results) == 1
    assert len({result.posting_id for result in results}) == 1
    async with database.reading() as session:
        assert await ledger.balance(session, ledger.credit_account("cus_a")) == 10_000
        assert (await check_books(session)).balanced


def test_the_command_exits_0_on_balanced_books_and_1_naming_each_problem(tmp_path: Path) -> None:
    backend = Backend("sqlite", tmp_path)

    async def build() -> str:
        await migrate(backend, "txn")
        db = Database(target_for(backend.settings("txn"), "txn"), pool_size=1)
        try:
            posted = await withdraw(db, "cus_a", "aut_1", 20_000)
        finally:
            await db.dispose()
        return posted.posting_id

    posting_id = asyncio.run(build())
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env["SEKISHO_DATA_DIR"] = str(tmp_path)

    def books_check() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sekisho.cli", "books", "check"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)

    balanced = books_check()
    assert balanced.returncode == 0, balanced.stderr
    assert "the books balance" in balanced.stdout

    async def tamper() -> None:
        db = Database(target_for(backend.settings("txn"), "txn"), pool_size=1)
        try:
            async with db.transaction() as session:
                await session.execute(update(models.entry).where(models.entry.c.amount > 0).values(amount=1))
        finally:
            await db.dispose()

    asyncio.run(tamper())
    broken = books_check()
    assert broken.returncode == 1
    assert f"posting {posting_id}: entries sum to -19999" in broken.stdout
    assert "THE BOOKS DO NOT BALANCE" in broken.stdout
