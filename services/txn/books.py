"""`sekisho books check`: proof that the books balance, read from the entries alone.

Checked: every posting has at least two entries and they sum to zero; its amount is the sum of its debits; no
entry lacks its posting; every customer's credit account is a debit balance (never owed below zero) and every
wallet a credit balance (never spent below zero); and the whole ledger sums to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models


@dataclass
class BooksReport:
    postings: int = 0
    entries: int = 0
    total: int = 0  # the sum of every entry: 0 when the books balance
    by_kind: dict[str, int] = field(default_factory=dict)  # yen posted per posting kind
    problems: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.problems and self.total == 0

    def to_json(self) -> dict[str, object]:
        return {
            "balanced": self.balanced,
            "postings": self.postings,
            "entries": self.entries,
            "total": self.total,
            "by_kind": self.by_kind,
            "problems": self.problems,
        }

    def to_text(self) -> str:
        lines = [f"postings: {self.postings}", f"entries: {self.entries}", f"sum of all entries: {self.total}"]
        lines += [f"  {kind}: {amount} yen" for kind, amount in sorted(self.by_kind.items())]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        lines.append("the books balance" if self.balanced else "THE BOOKS DO NOT BALANCE")
        return "\n".join(lines)


async def check_books(session: AsyncSession, *, problem_limit: int = 100) -> BooksReport:
    p, e = models.posting, models.entry
    report = BooksReport()
    report.postings = int(await session.scalar(select(func.count()).select_from(p)) or 0)
    report.entries = int(await session.scalar(select(func.count()).select_from(e)) or 0)
    report.total = int(await session.scalar(select(func.coalesce(func.sum(e.c.amount), 0))) or 0)
    for kind, amount in await session.execute(select(p.c.kind, func.sum(p.c.amount)).group_by(p.c.kind)):
        report.by_kind[str(kind)] = int(amount)

    debits = func.coalesce(func.sum(case((e.c.amount > 0, e.c.amount), else_=0)), 0)
    per_posting = (
        select(p.c.id, p.c.amount, func.count(e.c.id).label("n"), func.coalesce(func.sum(e.c.amount), 0).label("s"))
        .add_columns(debits.label("debits"))
        .select_from(p.outerjoin(e, e.c.posting_id == p.c.id))
        .group_by(p.c.id, p.c.amount)
    )
    for row in await session.execute(per_posting):
        if row.n < 2:
            report.problems.append(f"posting {row.id} has {row.n} entries")
        elif row.s != 0:
            report.problems.append(f"posting {row.id}: entries sum to {row.s}")
        elif row.debits != row.amount:
            report.problems.append(f"posting {row.id}: amount {row.amount} but debits {row.debits}")
        if len(report.problems) >= problem_limit:
            return report

    orphans = await session.scalar(
        select(func.count()).select_from(e.outerjoin(p, p.c.id == e.c.posting_id)).where(p.c.id.is_(None))
    )
    if orphans:
        report.problems.append(f"{orphans} entries without their posting")

    balances = select(e.c.account, func.sum(e.c.amount).label("balance")).group_by(e.c.account)
    for account, balance in await session.execute(balances):
        if account.endswith(":credit") and balance < 0:
            report.problems.append(f"{account} is owed below zero: {balance}")
        if account.endswith(":wallet") and balance > 0:
            report.problems.append(f"{account} is spent below zero: {-balance}")
    return report
