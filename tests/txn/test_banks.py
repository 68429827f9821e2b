"""The bank adapter's simulator (services/txn/banks.py) and the JST month of the charge cap, with no I/O."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.txn.banks import AccountRef, DebitOutcome, SimulatedAccount, simulator_from
from services.txn.charges import month_start

HANAKO = SimulatedAccount(
    bank_code="0001",
    branch_code="123",
    account_number="1234567",
    holder_kana="ｻﾄｳ ﾊﾅｺ",
    birth_date=date(1990, 4, 12),
    balance=50_000,
)


async def test_the_simulator_names_the_holder_and_debits_once_per_reference(tmp_path: Path) -> None:
    file = tmp_path / "accounts.json"
    other = {"bank_code": "0005", "branch_code": "001", "account_number": "7654321", "holder_kana": "ﾀﾅｶ ｲﾁﾛｳ"}
    file.write_text(json.dumps([other]), encoding="utf-8")
    bank = simulator_from([HANAKO], file)

    holder = await bank.verify_account(HANAKO.ref)
    assert holder is not None
    assert (holder.bank_name, holder.holder_kana, holder.birth_date) == ("みずほ銀行", "ｻﾄｳ ﾊﾅｺ", date(1990, 4, 12))
    from_file = await bank.verify_account(AccountRef("0005", "001", "7654321"))
    assert from_file is not None
    assert (from_file.bank_name, from_file.birth_date) == ("三菱UFJ銀行", None)
    assert await bank.verify_account(AccountRef("0001", "123", "7654320")) is None

    first = await bank.debit(HANAKO.ref, amount=30_000, reference="chg_1")
    again = await bank.debit(HANAKO.ref, amount=30_000, reference="chg_1")
    assert first == again
    assert first.outcome is DebitOutcome.DONE
    assert bank.balance(HANAKO.ref) == 20_000
    assert (await bank.debit(HANAKO.ref, amount=30_000, reference="chg_2")).outcome is DebitOutcome.INSUFFICIENT_FUNDS
    bank.close_account(HANAKO.ref)
    assert (await bank.debit(HANAKO.ref, amount=1_000, reference="chg_3")).outcome is DebitOutcome.ACCOUNT_CLOSED
    assert await bank.verify_account(HANAKO.ref) is None
    assert bank.balance(HANAKO.ref) == 20_000


@pytest.mark.parametrize(
    ("field", "value"), [("bank_code", "001"), ("branch_code", "12"), ("account_number", "123456"), ("balance", -1)]
)
def test_a_simulated_account_has_zengin_codes(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        SimulatedAccount.model_validate({**HANAKO.model_dump(), field: value})


def test_the_monthly_cap_counts_from_the_first_of_the_month_in_japan() -> None:
    # 2026-11-30 15:00 UTC is 2026-12-01 00:00 in Tokyo: December's charges start there.
    assert month_start(datetime(2026, 11, 30, 15, 0, tzinfo=UTC)) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert month_start(datetime(2026, 11, 30, 14, 59, tzinfo=UTC)) == datetime(2026, 10, 31, 15, 0, tzinfo=UTC)
