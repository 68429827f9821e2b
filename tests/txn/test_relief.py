"""The relief policy (services/txn/relief_policy.toml) and the compensating legs it posts, with no database: what a
victim is relieved of is what the fraud drew, no more; a bank is refunded in full; the victim's own money stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.txn.app import create_app
from services.txn.errors import NotRelievable
from services.txn.ledger import FRAUD_RELIEF, Leg, atm_account, bank_account, credit_account, wallet_account
from services.txn.relief import SHIPPED_RELIEF_POLICY, Balances, ReliefPolicyError, load_relief_policy, relief_legs
from services.txn.settings import TxnSettings

C = "cus_01jd7x00000000000000000000"
CREDIT, WALLET, BANK = credit_account(C), wallet_account(C), bank_account("0005")


def withdrawal(amount: int) -> list[Leg]:
    return [Leg(CREDIT, amount), Leg(atm_account("ptn_1"), -amount)]


def charge(amount: int) -> list[Leg]:
    return [Leg(BANK, amount), Leg(WALLET, -amount)]


def owed(outstanding: int) -> Balances:
    return Balances(outstanding=outstanding, wallet_before=0, wallet_since=())


def as_dict(legs: list[Leg]) -> dict[str, int]:
    assert len({leg.account for leg in legs}) == len(legs)
    return {leg.account: leg.amount for leg in legs}


def test_the_shipped_policy_relieves_withdrawals_and_charges_in_full_within_three_days() -> None:
    policy = load_relief_policy()
    assert (policy.version, policy.target_days, policy.decision_role) == (1, 3, "supervisor")
    assert {kind: (rule.relief, rule.victim_bears) for kind, rule in policy.kinds.items()} == {
        "withdrawal": ("full", "nothing"),
        "charge": ("full", "nothing"),
    }
    assert policy.covers("withdrawal")
    assert not policy.covers("relief")
    assert not policy.covers("repayment")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (('relief = "full"', 'relief = "half"'), "kinds.withdrawal.relief"),
        (("target_days = 3", "target_days = 0"), "target_days"),
        (('decision_role = "supervisor"', 'decision_role = "intern"'), "decision_role"),
        (("[kinds.charge]", "[kinds.repayment]"), "kinds.repayment"),
        (("version = 1", "version = 1\nrefund_everything = true"), "refund_everything"),
        (("version = 1", "version = "), "Invalid"),
    ],
)
def test_a_policy_txn_cannot_apply_stops_it_at_start_up(tmp_path: Path, change: tuple[str, str], why: str) -> None:
    path = tmp_path / "relief_policy.toml"
    path.write_text(SHIPPED_RELIEF_POLICY.read_text(encoding="utf-8").replace(*change, 1), encoding="utf-8")
    with pytest.raises(ReliefPolicyError, match=why):
        load_relief_policy(path)
    with pytest.raises(ReliefPolicyError):
        create_app(TxnSettings(env="test", txn_relief_policy_file=path))
    with pytest.raises(ReliefPolicyError, match="No such file"):
        load_relief_policy(tmp_path / "missing.toml")


def test_a_withdrawal_still_owed_is_taken_off_the_line_and_borne_by_the_company() -> None:
    legs = relief_legs("withdrawal", C, withdrawal(50_000), owed(70_000))
    assert as_dict(legs) == {FRAUD_RELIEF: 50_000, CREDIT: -50_000}


def test_what_the_victim_repaid_of_a_withdrawal_goes_back_to_their_wallet() -> None:
    legs = relief_legs("withdrawal", C, withdrawal(50_000), owed(20_000))
    assert as_dict(legs) == {FRAUD_RELIEF: 50_000, CREDIT: -20_000, WALLET: -30_000}
    repaid_in_full = relief_legs("withdrawal", C, withdrawal(50_000), owed(0))
    assert as_dict(repaid_in_full) == {FRAUD_RELIEF: 50_000, WALLET: -50_000}


def test_a_charge_is_refunded_to_the_bank_and_what_is_left_of_it_leaves_the_wallet() -> None:
    untouched = Balances(outstanding=0, wallet_before=10_000, wallet_since=(60_000,))
    assert as_dict(relief_legs("charge", C, charge(50_000), untouched)) == {BANK: -50_000, WALLET: 50_000}
    # The fraudster spent 30,000 of it (spending counts against the fraud's money first): the company bears that.
    spent = Balances(outstanding=0, wallet_before=10_000, wallet_since=(60_000, 30_000))
    assert as_dict(relief_legs("charge", C, charge(50_000), spent)) == {
        BANK: -50_000,
        WALLET: 20_000,
        FRAUD_RELIEF: 30_000,
    }
    # Then spent everything, the victim's own 10,000 too, and the victim paid 20,000 in since: none of that is the
    # fraud's, so none of it is taken.
    emptied = Balances(outstanding=0, wallet_before=10_000, wallet_since=(60_000, 0, 20_000))
    assert as_dict(relief_legs("charge", C, charge(50_000), emptied)) == {BANK: -50_000, FRAUD_RELIEF: 50_000}


def test_a_posting_that_does_not_show_what_relief_would_return_is_for_staff_to_look_at() -> None:
    with pytest.raises(NotRelievable):
        relief_legs("withdrawal", C, [Leg(wallet_account("cus_other"), 1), Leg(FRAUD_RELIEF, -1)], owed(0))
    with pytest.raises(NotRelievable):
        relief_legs("charge", C, [Leg(WALLET, 5), Leg(FRAUD_RELIEF, -5)], owed(0))
    with pytest.raises(NotRelievable):
        relief_legs("repayment", C, [Leg(BANK, 5), Leg(CREDIT, -5)], owed(0))


@given(
    drawn=st.integers(1, 10**7),
    outstanding=st.integers(0, 2 * 10**7),
    charged=st.integers(1, 10**7),
    before=st.integers(0, 10**7),
    since=st.lists(st.integers(0, 3 * 10**7), min_size=1, max_size=6),
)
def test_relief_balances_and_moves_exactly_what_the_fraud_drew_taking_nothing_of_the_victims(
    drawn: int, outstanding: int, charged: int, before: int, since: list[int]
) -> None:
    withdrawn = as_dict(relief_legs("withdrawal", C, withdrawal(drawn), owed(outstanding)))
    charged_back = as_dict(relief_legs("charge", C, charge(charged), Balances(0, before, tuple(since))))
    for legs in (withdrawn, charged_back):
        assert sum(legs.values()) == 0
        assert 0 not in legs.values()
        assert legs.get(FRAUD_RELIEF, 0) >= 0
    # The posting's amount (its debits) is what the fraud drew: no more, no less.
    assert sum(v for v in withdrawn.values() if v > 0) == drawn
    assert sum(v for v in charged_back.values() if v > 0) == charged
    # The line is never credited below zero, and what it cannot take goes back to the victim.
    assert 0 <= -withdrawn.get(CREDIT, 0) <= outstanding
    assert -withdrawn.get(CREDIT, 0) - withdrawn.get(WALLET, 0) == drawn
    # The bank gets it all back; the wallet gives back only what of the fraud's money it still held.
    assert charged_back[BANK] == -charged
    assert 0 <= charged_back.get(WALLET, 0) <= max(0, min(since) - before)
