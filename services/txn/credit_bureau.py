"""The credit bureau txn reports customers' debts to and asks to delete what a fraud caused (INC-6 (c)): one adapter
(`CreditBureau`) in front of it, and the in-process `CreditBureauSimulator` that development and tests run against.

What txn needs of the bureau is two calls, each answered by an acknowledgement carrying the bureau's reference: the
report of a record (a completed withdrawal's debt), and the deletion of a record a proved fraud caused, naming the
dispute that proved it (the bureau keeps that as its reason). Both are idempotent on the record id: asked twice,
the bureau answers the first acknowledgement again, so a resend after a lost answer does no harm. A bureau that
cannot be reached raises `BureauUnavailable`; txn then keeps the request pending and sends it again later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class BureauUnavailable(Exception):
    """The bureau did not answer: nothing is known to have been recorded there."""


@dataclass(frozen=True)
class BureauRecord:
    """A record as the bureau hears of it."""

    record_id: str
    customer_id: str
    kind: str  # debt | delinquency
    amount: int
    recorded_at: datetime


@dataclass(frozen=True)
class Acknowledgement:
    reference: str  # the bureau's id of what it recorded


@dataclass(frozen=True)
class DeletionRequest:
    record_id: str
    dispute_id: str
    reference: str


class CreditBureau(Protocol):
    async def report(self, record: BureauRecord) -> Acknowledgement:
        """Record `record` at the bureau; the same record id records once."""
        ...

    async def request_deletion(self, record: BureauRecord, dispute_id: str) -> Acknowledgement:
        """Delete `record`, a fraud's doing as the dispute `dispute_id` proved; the same record id deletes once."""
        ...


class CreditBureauSimulator:
    """The bureau in memory, deterministic: what tests and `make run` report to. `down = True` makes every call
    raise BureauUnavailable, as an unreachable bureau would."""

    def __init__(self) -> None:
        self.down = False
        self.reports: dict[str, Acknowledgement] = {}  # by record id
        self.deletions: dict[str, DeletionRequest] = {}  # by record id
        self._sequence = 0

    async def report(self, record: BureauRecord) -> Acknowledgement:
        self._check()
        if record.record_id not in self.reports:
            self.reports[record.record_id] = Acknowledgement(self._reference("rep"))
        return self.reports[record.record_id]

    async def request_deletion(self, record: BureauRecord, dispute_id: str) -> Acknowledgement:
        self._check()
        if record.record_id not in self.deletions:
            self.deletions[record.record_id] = DeletionRequest(record.record_id, dispute_id, self._reference("del"))
        return Acknowledgement(self.deletions[record.record_id].reference)

    def is_reported(self, record_id: str) -> bool:
        """Reported and not deleted: what a lender asking the bureau about the customer would see."""
        return record_id in self.reports and record_id not in self.deletions

    def _check(self) -> None:
        if self.down:
            raise BureauUnavailable("The credit bureau did not answer.")

    def _reference(self, prefix: str) -> str:
        self._sequence += 1
        return f"cb-{prefix}-{self._sequence:08d}"
