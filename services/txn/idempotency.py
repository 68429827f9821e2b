"""Idempotency keys, as Stripe and the IETF Idempotency-Key draft keep them: the same key with the same payload
replays the first answer byte for byte and does the work once; another payload under the key is refused (422
idempotency_key_reused); a retry while the first request still runs gets 409 request_in_progress.

`run_once` claims the key in a statement of its own, committed before the work starts, so that every retry sees
the claim at once. The work then runs in a second transaction, which stores the answer with whatever the work changed
(both commit, or neither) provided the claim is still this request's. A request that fails (a check that could not
be made, a crash) gives its claim back, and a retry does the work afresh; a worker that died without giving it back
holds it only until its lease lapses, and then a retry takes the key over (the dead worker's transaction was rolled
back, so nothing of its work stands; a worker merely slow finds its claim taken when it stores its answer, and its
transaction is rolled back). These are the two transactions of a request here, where the rest of txn has one: the
claim must be visible to retries before the work, which is the point of it. Nothing holds the key's row while the
work runs, so a retry is answered 409 at once, never queued behind the request it repeats.

A tombstone is a key that a reversal reached before any request under it (the partner's authorize timed out, so it
reverses by its request_id): the request that arrives later under that key gets the tombstone's answer.

Keys are forgotten after `txn_request_id_retention_hours` (`forget_old`, the sweeper), as Stripe's are after a day.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models
from services.txn.errors import RequestIdReused, RequestInProgress
from shared.clock import Clock
from shared.database import Database
from shared.ids import new_token
from shared.statements import Prepared, Statements

log = logging.getLogger("sekisho.txn.idempotency")


class State(StrEnum):
    IN_PROGRESS = "in_progress"
    DONE = "done"
    TOMBSTONE = "tombstone"


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes


@dataclass(frozen=True)
class KeyRecord:
    state: State
    fingerprint: str | None
    answer: Answer | None
    lease_until: datetime | None


Work = Callable[[Statements], Awaitable[Answer]]


def _claim_statement(dialect: Any) -> Prepared:
    t = models.idempotency_key
    return Prepared(
        dialect.insert(t)
        .values(
            scope=bindparam("claim_scope"),
            key=bindparam("claim_key"),
            fingerprint=bindparam("claim_fingerprint"),
            state=State.IN_PROGRESS.value,
            lease_token=bindparam("token"),
            lease_until=bindparam("claim_until"),
            created_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(t.c.key)
    )


# Built once (shared/statements.py): the claim and the stored answer run on every request.
_CLAIM = {"postgresql": _claim_statement(postgresql), "sqlite": _claim_statement(sqlite)}
_t = models.idempotency_key
_STORE = Prepared(
    update(_t)
    .where(
        _t.c.scope == bindparam("claim_scope"),
        _t.c.key == bindparam("claim_key"),
        _t.c.lease_token == bindparam("token"),
        _t.c.state == State.IN_PROGRESS.value,
    )
    .values(
        state=State.DONE.value,
        status_code=bindparam("answer_status"),
        response=bindparam("answer_body"),
        completed_at=bindparam("now"),
        lease_token=None,
        lease_until=None,
    )
    .returning(_t.c.key)
)


async def run_once(
    database: Database,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    clock: Clock,
    lease_seconds: float,
    work: Work,
) -> Answer:
    """`work`'s answer, the first time this key is used; after that, the stored answer of the first time."""
    claimed = await _claim(database, scope, key, fingerprint, clock.now(), lease_seconds)
    if isinstance(claimed, Answer):
        return claimed
    try:
        async with database.direct_transaction() as statements:
            answer = await work(statements)
            stored = await statements.one_or_none(
                _STORE,
                {
                    "claim_scope": scope,
                    "claim_key": key,
                    "token": claimed,
                    "answer_status": answer.status_code,
                    "answer_body": answer.body,
                    "now": clock.now(),
                },
            )
            if stored is None:  # its lease lapsed and a retry took the key over: that one's answer stands
                raise RequestInProgress("This request was taken over by a retry after its lease lapsed.")
    except Exception:
        await _give_back(database, scope, key, claimed)
        raise
    return answer


async def forget_old(session: AsyncSession, *, created_before: datetime, now: datetime, limit: int) -> int:
    """Delete up to `limit` keys made before `created_before`: answered ones, tombstones, and claims whose lease
    lapsed (a live claim is never taken from its worker); how many. Rows another sweeper holds are skipped."""
    t = models.idempotency_key
    old = (
        select(t.c.scope, t.c.key)
        .where(t.c.created_at < created_before, or_(t.c.state != State.IN_PROGRESS.value, t.c.lease_until <= now))
        .order_by(t.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    keys = [(row.scope, row.key) for row in (await session.execute(old)).all()]
    if keys:
        await session.execute(delete(t).where(tuple_(t.c.scope, t.c.key).in_(keys)))
    return len(keys)


async def find(session: AsyncSession, *, scope: str, key: str) -> KeyRecord | None:
    row = (await session.execute(select(models.idempotency_key).where(_the(scope, key)))).first()
    return None if row is None else _record(row)


async def leave_tombstone(
    session: AsyncSession, *, scope: str, key: str, answer: Answer, now: datetime
) -> KeyRecord | None:
    """Mark an unused key so that the request that comes later under it gets `answer`. None: done; else the key
    was used first, and this is its record."""
    if await _insert_new(
        session,
        scope=scope,
        key=key,
        fingerprint=None,
        state=State.TOMBSTONE.value,
        status_code=answer.status_code,
        response=answer.body,
        created_at=now,
        completed_at=now,
    ):
        return None
    found = await find(session, scope=scope, key=key)
    assert found is not None
    return found


async def _claim(
    database: Database, scope: str, key: str, fingerprint: str, now: datetime, lease_seconds: float
) -> Answer | str:
    """The stored answer to replay, or the lease token of a claim now held."""
    token = new_token(18)
    lease_until = now + timedelta(seconds=lease_seconds)
    async with database.direct_statement() as statements:
        claim = {"claim_scope": scope, "claim_key": key, "claim_fingerprint": fingerprint, "token": token}
        if await statements.one_or_none(_CLAIM[statements.dialect], {**claim, "claim_until": lease_until, "now": now}):
            return token
    async with database.reading() as session:
        found = await find(session, scope=scope, key=key)
    if found is None:  # claimed, and given back at once: the retry may try again
        raise RequestInProgress("A request with this request_id is still being processed: retry in a moment.")
    if found.state is State.TOMBSTONE:
        assert found.answer is not None
        return found.answer
    if found.fingerprint != fingerprint:
        raise RequestIdReused("This request_id was used for another request.")
    if found.state is State.DONE:
        assert found.answer is not None
        return found.answer
    if found.lease_until is not None and found.lease_until > now:
        raise RequestInProgress(
            "A request with this request_id is still being processed: retry in a moment.",
            headers={"Retry-After": "1"},
        )
    # The lease lapsed: its worker died. Taken over only if it is still so when the row is ours to update (a slow
    # worker that stored its answer in the meantime has it replayed instead).
    t = models.idempotency_key
    async with database.transaction() as session:
        taken = await session.execute(
            update(t)
            .where(_the(scope, key), t.c.state == State.IN_PROGRESS.value, t.c.lease_until <= now)
            .values(lease_token=token, lease_until=lease_until)
            .returning(t.c.key)
        )
        if taken.first() is not None:
            return token
        again = await find(session, scope=scope, key=key)
    if again is None or again.state is State.IN_PROGRESS or again.answer is None:
        raise RequestInProgress("A request with this request_id is still being processed: retry in a moment.")
    return again.answer


async def _give_back(database: Database, scope: str, key: str, token: str) -> None:
    t = models.idempotency_key
    try:
        async with database.transaction() as session:
            await session.execute(
                t.delete().where(_the(scope, key), t.c.lease_token == token, t.c.state == State.IN_PROGRESS.value)
            )
    except SQLAlchemyError:  # the lease lapses on its own; the request's own failure is what the caller must see
        log.exception("could not give back the idempotency key", extra={"scope": scope, "key": key})


async def _insert_new(session: AsyncSession, **values: Any) -> bool:
    """Insert the key's row unless the key is there; whether it was inserted. A concurrent insert of the same key
    waits for the first to commit (PostgreSQL) or queues behind it (SQLite), then finds it there."""
    t = models.idempotency_key
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(t).values(**values).on_conflict_do_nothing(index_elements=["scope", "key"]).returning(t.c.key)
    return (await session.execute(statement)).first() is not None


def _the(scope: str, key: str) -> Any:
    t = models.idempotency_key
    return (t.c.scope == scope) & (t.c.key == key)


def _record(row: Any) -> KeyRecord:
    answer = None if row.status_code is None else Answer(int(row.status_code), bytes(row.response))
    return KeyRecord(State(row.state), row.fingerprint, answer, row.lease_until)
