"""The banks txn links accounts at and draws charges from: one adapter (`BankAdapter`) in front of them, and the
in-process `BankSimulator` that development and tests run against (settings: `txn_bank_adapter = "simulator"`).

What txn needs of a bank is three calls: who holds an account (the holder's name in kana as the bank writes it, in
the Zengin half-width character set, and the birth date where the bank gives one; KYC-4 compares them with the
verified identity), and a debit of the account for a charge into the wallet, refused when the account lacks the
funds or is closed. A debit is idempotent on its reference (the charge id): asked twice, the bank debits once and
answers the first outcome again, so a charge retried after a lost answer never takes the money twice. And a report
of each link made or refused on one of its accounts: the bank tells its depositor (after the Docomo-account case
banks were asked to tell depositors of every link to a payment service; the depositor may not be our customer, and
only the bank can reach them).

Codes are the Zengin ones: a bank 4 digits, a branch 3, an ordinary account number 7.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

BANK_CODE = r"^[0-9]{4}$"
BRANCH_CODE = r"^[0-9]{3}$"
ACCOUNT_NUMBER = r"^[0-9]{7}$"

# The simulator's directory of banks (全銀協 bank codes); a simulated account may name its own bank instead.
SIMULATED_BANKS: Mapping[str, str] = {
    "0001": "みずほ銀行",
    "0005": "三菱UFJ銀行",
    "0009": "三井住友銀行",
    "0010": "りそな銀行",
    "0033": "PayPay銀行",
    "0036": "楽天銀行",
    "0038": "住信SBIネット銀行",
    "9900": "ゆうちょ銀行",
}


@dataclass(frozen=True)
class AccountRef:
    bank_code: str
    branch_code: str
    account_number: str

    @property
    def key(self) -> str:
        """`bank-branch-number`: what the account's keyed digest is made from (fraud's `bank_account`)."""
        return f"{self.bank_code}-{self.branch_code}-{self.account_number}"


@dataclass(frozen=True)
class AccountHolder:
    """Who the bank says holds the account."""

    bank_name: str
    holder_kana: str  # as the bank writes it
    birth_date: date | None  # only where the bank supplies it


class DebitOutcome(StrEnum):
    DONE = "done"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_NOT_FOUND = "account_not_found"


@dataclass(frozen=True)
class Debit:
    outcome: DebitOutcome
    bank_reference: str | None = None  # the bank's id of the debit, when it was made


LinkOutcome = Literal["linked", "refused_holder_mismatch"]


@dataclass(frozen=True)
class LinkReport:
    """What the bank is told of a link on its account: the depositor hears of it from the bank."""

    account: AccountRef
    outcome: LinkOutcome
    service_name: str
    at: datetime


class BankAdapter(Protocol):
    async def verify_account(self, account: AccountRef) -> AccountHolder | None:
        """The account's holder, or None when the bank has no such open account."""
        ...

    async def debit(self, account: AccountRef, *, amount: int, reference: str) -> Debit:
        """Take `amount` yen from the account for the charge `reference`; the same reference debits once."""
        ...

    async def report_link(self, report: LinkReport) -> None:
        """Tell the bank of a link made, or refused for a holder who is not the account's, on one of its accounts."""
        ...


class SimulatedAccount(BaseModel):
    """One account of the simulator, as settings (`SEKISHO_TXN_BANK_SIMULATOR_ACCOUNTS`, JSON) or its file give it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank_code: str = Field(pattern=BANK_CODE)
    branch_code: str = Field(pattern=BRANCH_CODE)
    account_number: str = Field(pattern=ACCOUNT_NUMBER)
    holder_kana: str = Field(min_length=1, max_length=100, description="as the bank writes it: ｻﾄｳ ﾊﾅｺ")
    birth_date: date | None = None
    balance: int = Field(default=0, ge=0)
    closed: bool = False
    bank_name: str | None = Field(default=None, max_length=100)

    @property
    def ref(self) -> AccountRef:
        return AccountRef(self.bank_code, self.branch_code, self.account_number)


SIMULATED_ACCOUNTS = TypeAdapter(list[SimulatedAccount])


class BankSimulator:
    """Banks in memory, deterministic: what tests and `make run` link to and charge from. Nothing here awaits, so
    each call is atomic on the event loop."""

    def __init__(self, accounts: Iterable[SimulatedAccount] = (), banks: Mapping[str, str] = SIMULATED_BANKS) -> None:
        self._banks = dict(banks)
        self._accounts: dict[AccountRef, SimulatedAccount] = {}
        self._debits: dict[str, Debit] = {}
        self.link_reports: list[LinkReport] = []  # what the banks were told, for their depositors
        for account in accounts:
            self.open_account(account)

    def open_account(self, account: SimulatedAccount) -> None:
        """Open (or replace) an account."""
        self._accounts[account.ref] = account

    def close_account(self, account: AccountRef) -> None:
        self._accounts[account] = self._accounts[account].model_copy(update={"closed": True})

    def balance(self, account: AccountRef) -> int:
        return self._accounts[account].balance

    def bank_name(self, bank_code: str) -> str:
        return self._banks.get(bank_code, f"金融機関 {bank_code}")

    async def verify_account(self, account: AccountRef) -> AccountHolder | None:
        found = self._accounts.get(account)
        if found is None or found.closed:
            return None
        return AccountHolder(
            bank_name=found.bank_name or self.bank_name(account.bank_code),
            holder_kana=found.holder_kana,
            birth_date=found.birth_date,
        )

    async def report_link(self, report: LinkReport) -> None:
        self.link_reports.append(report)

    async def debit(self, account: AccountRef, *, amount: int, reference: str) -> Debit:
        if reference in self._debits:
            return self._debits[reference]
        found = self._accounts.get(account)
        if found is None:
            debit = Debit(DebitOutcome.ACCOUNT_NOT_FOUND)
        elif found.closed:
            debit = Debit(DebitOutcome.ACCOUNT_CLOSED)
        elif found.balance < amount:
            debit = Debit(DebitOutcome.INSUFFICIENT_FUNDS)
        else:
            self._accounts[account] = found.model_copy(update={"balance": found.balance - amount})
            debit = Debit(DebitOutcome.DONE, bank_reference=f"sim-{len(self._debits) + 1:08d}")
        self._debits[reference] = debit
        return debit


def simulator_from(accounts: Iterable[SimulatedAccount], file: Path | None) -> BankSimulator:
    """The simulator with the accounts settings give and those of `file` (a JSON list of the same objects)."""
    seeded = list(accounts)
    if file is not None:
        seeded += SIMULATED_ACCOUNTS.validate_python(json.loads(file.read_text(encoding="utf-8")))
    return BankSimulator(seeded)
