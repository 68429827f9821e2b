"""Victim relief (INC-7): the relief policy fixed in advance (relief_policy.toml, versioned), the compensating
ledger entries it makes for each fraudulent transaction, and the deletion of the credit information the fraud caused.

What relief posts, per transaction kind (one `relief` posting per transaction, reference `<dispute>:<posting>`):

- withdrawal: the fraud drew D on the victim's credit line (`customer:<id>:credit` debited D, the partner's ATM
  account credited). The company bears it: `company:fraud_relief` +D, and the credit account is credited back by
  what is still owed of it, min(D, outstanding). Whatever the victim already repaid towards it (D - that) is
  returned to their wallet (credited: the company owes it to them), never lost and never owed below zero.
- charge: the fraud debited the victim's bank account through a link they never made (`bank:<code>:settlement`
  debited C: the bank owes the company what it collected; the wallet credited C). The bank account is refunded in
  full: the settlement account is credited C (the company owes the bank C back, which the bank credits to its
  depositor). What the fraud funded and is still in the wallet is taken back from the wallet (debited): it was
  never the victim's, and refunding the bank while leaving it spendable would pay twice. The company bears the rest,
  what the fraudster spent: `company:fraud_relief` + (C - that). "Still in the wallet" counts spending against the
  fraud's money first and never counts later deposits as the fraud's: min(C, the lowest the wallet stood above its
  balance before the charge, from the charge until now), never below 0. So the victim keeps every yen of their own
  that the fraudster did not spend, and a wallet the fraudster opened in the victim's name (the Docomo-account
  scheme) gives back whatever is left in it.

Never twice, never more than moved: the amounts come from the disputed posting's own entries; a posting that
already has a relief posting (any dispute) is skipped; the ledger's unique (kind, reference) stops a replay.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import credit_information, ledger, models
from services.txn.errors import NotRelievable
from services.txn.ledger import FRAUD_RELIEF, Leg, PostingKind

SHIPPED_RELIEF_POLICY = Path(__file__).with_name("relief_policy.toml")

RelievedKind = Literal["withdrawal", "charge"]  # the kinds relief_legs knows how to relieve


class ReliefPolicyError(Exception):
    """The relief policy file cannot be used: txn does not start without a policy it can apply (INC-7)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KindRule(_Strict):
    relief: Literal["full"]
    victim_bears: Literal["nothing"]
    explanation_ja: str = Field(min_length=1, max_length=500)
    explanation_en: str = Field(min_length=1, max_length=500)


class ReliefPolicy(_Strict):
    version: int = Field(ge=1)
    target_days: int = Field(ge=1, le=30)
    decision_role: Literal["analyst", "supervisor", "admin"]
    exception_ja: str = Field(min_length=1, max_length=500)
    exception_en: str = Field(min_length=1, max_length=500)
    kinds: dict[RelievedKind, KindRule] = Field(min_length=1)

    def covers(self, kind: str) -> bool:
        return kind in self.kinds

    def due_at(self, declared_at: datetime) -> datetime:
        return declared_at + timedelta(days=self.target_days)


def load_relief_policy(path: Path | None = None) -> ReliefPolicy:
    path = path or SHIPPED_RELIEF_POLICY
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
        return ReliefPolicy.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ReliefPolicyError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Balances:
    """The customer's balances as relief needs them, before this relief (wallet: what the company owes, >= 0)."""

    outstanding: int  # owed on the credit line now
    wallet_before: int  # the wallet just before the disputed posting
    wallet_since: tuple[int, ...]  # the wallet after each posting from the disputed one (included) until now


def relief_legs(kind: str, customer_id: str, entries: list[Leg], balances: Balances) -> list[Leg]:
    """The compensating legs for one fraudulent posting of `kind` with `entries` (its ledger entries), in full.
    Pure: the module docstring gives the reasons. NotRelievable when the entries do not show what was drawn."""
    if kind == PostingKind.WITHDRAWAL:
        credit = ledger.credit_account(customer_id)
        drawn = sum(leg.amount for leg in entries if leg.account == credit and leg.amount > 0)
        if drawn <= 0:
            raise NotRelievable("The withdrawal drew nothing on the customer's credit line.")
        still_owed = min(drawn, max(0, balances.outstanding))
        legs = [Leg(FRAUD_RELIEF, drawn), Leg(credit, -still_owed)]
        legs.append(Leg(ledger.wallet_account(customer_id), -(drawn - still_owed)))
    elif kind == PostingKind.CHARGE:
        banks = [leg for leg in entries if leg.account.startswith("bank:") and leg.amount > 0]
        if len(banks) != 1:
            raise NotRelievable("The charge does not show the one bank account it was drawn from.")
        bank, charged = banks[0].account, banks[0].amount
        lowest = min((w - balances.wallet_before for w in balances.wallet_since), default=0)
        unspent = min(charged, max(0, lowest))
        legs = [Leg(bank, -charged), Leg(ledger.wallet_account(customer_id), unspent)]
        legs.append(Leg(FRAUD_RELIEF, charged - unspent))
    else:
        raise NotRelievable(f"The relief policy does not relieve a {kind}.")
    return [leg for leg in legs if leg.amount != 0]


@dataclass(frozen=True)
class Relieved:
    posting_id: str  # the fraudulent posting
    relief_posting_id: str
    amount: int  # what relief moved for it (0: it had been relieved before; nothing moved now)


async def relieve_postings(
    session: AsyncSession,
    *,
    dispute_id: str,
    customer_id: str,
    posting_ids: list[str],
    actor: str,
    at: datetime,
) -> list[Relieved]:
    """Post the relief of each fraudulent posting (the caller holds the dispute's row lock and the line's)."""
    done: list[Relieved] = []
    for posting_id in posting_ids:
        original = await _posting(session, customer_id, posting_id)
        earlier = await _earlier_relief(session, posting_id)
        if earlier is not None:  # relieved before, under this dispute or another: never twice
            done.append(Relieved(posting_id, earlier, 0))
            continue
        before, since = await _wallet_history(session, customer_id, original)
        balances = Balances(
            outstanding=await ledger.balance(session, ledger.credit_account(customer_id)),
            wallet_before=before,
            wallet_since=since,
        )
        legs = relief_legs(original.kind, customer_id, await _legs_of(session, posting_id), balances)
        amount = sum(leg.amount for leg in legs if leg.amount > 0)
        posted = await ledger.post(
            session,
            kind=PostingKind.RELIEF,
            reference=f"{dispute_id}:{posting_id}",
            customer_id=customer_id,
            amount=amount,
            legs=legs,
            actor=actor,
            at=at,
            memo=f"relief of {original.kind} {posting_id} (dispute {dispute_id})",
        )
        done.append(Relieved(posting_id, posted.posting_id, amount if posted.created else 0))
    await credit_information.request_deletion(
        session, customer_id=customer_id, posting_ids=posting_ids, dispute_id=dispute_id, actor=actor, at=at
    )
    return done


async def _posting(session: AsyncSession, customer_id: str, posting_id: str) -> Any:
    p = models.posting
    row = (await session.execute(select(p).where(p.c.id == posting_id, p.c.customer_id == customer_id))).first()
    if row is None:
        raise NotRelievable(f"The posting {posting_id} is not the customer's.")
    return row


async def _legs_of(session: AsyncSession, posting_id: str) -> list[Leg]:
    e = models.entry
    rows = await session.execute(select(e.c.account, e.c.amount).where(e.c.posting_id == posting_id))
    return [Leg(str(row.account), int(row.amount)) for row in rows]


async def _earlier_relief(session: AsyncSession, posting_id: str) -> str | None:
    p = models.posting
    query = select(p.c.id).where(p.c.kind == PostingKind.RELIEF.value, p.c.reference.like(f"%:{posting_id}"))
    found = await session.scalar(query.limit(1))
    return str(found) if found is not None else None


async def _wallet_history(session: AsyncSession, customer_id: str, original: Any) -> tuple[int, tuple[int, ...]]:
    """The wallet (what the company owes, so the entries' sum negated) before `original`, and after each posting
    from it on, in the ledger's order (time, then id)."""
    p, e = models.posting, models.entry
    rows = await session.execute(
        select(p.c.id, p.c.created_at, func.sum(e.c.amount).label("moved"))
        .join(e, e.c.posting_id == p.c.id)
        .where(e.c.account == ledger.wallet_account(customer_id))
        .group_by(p.c.id, p.c.created_at)
        .order_by(p.c.created_at, p.c.id)
    )
    key = (original.created_at, original.id)
    balance, before, since = 0, 0, []
    for row in rows:
        if (row.created_at, row.id) < key:
            before = balance = balance - int(row.moved)
        else:
            balance -= int(row.moved)
            since.append(balance)
    return before, tuple(since)
