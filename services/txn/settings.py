"""Settings of the txn service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from services.txn.banks import SimulatedAccount
from shared.settings import ServiceSettings


class TxnSettings(ServiceSettings):
    # Smartphone-ATM withdrawals on the credit line (yen): the most one withdrawal, one day (JST) and one month
    # (JST) may take, whatever the line's limit. Holds count towards the day and the month until released.
    txn_withdrawal_max_amount: int = Field(default=500_000, ge=1_000)
    txn_withdrawal_daily_max: int = Field(default=500_000, ge=1_000)
    txn_withdrawal_monthly_max: int = Field(default=2_000_000, ge=1_000)
    # The ATM session shown as a QR, the one-time code the app receives, and an authorized hold never completed or
    # reversed (the sweeper releases it then).
    txn_atm_session_seconds: int = Field(default=300, ge=30, le=3600)
    txn_withdrawal_code_seconds: int = Field(default=180, ge=30, le=900)
    txn_hold_seconds: int = Field(default=900, ge=60, le=86_400)
    txn_sweep_poll_seconds: float = Field(default=5.0, gt=0)
    # Charges into the wallet from a linked bank account (LINK-3): per charge, per month (JST, all the customer's
    # links together), and a new link's cool-off, during which the link may bring in at most
    # txn_new_link_charge_max_amount in all (0: nothing until the cool-off ends). The Docomo-account wallet capped
    # charges at 300,000 yen a month; the cool-off gives the account's real holder, told of the link at contacts
    # registered before it (LINK-2), time to stop it before much money moves.
    txn_charge_max_amount: int = Field(default=100_000, ge=1_000)
    txn_charge_monthly_max: int = Field(default=300_000, ge=1_000)
    txn_new_link_cool_off_seconds: int = Field(default=72 * 3600, ge=0)
    txn_new_link_charge_max_amount: int = Field(default=30_000, ge=0)
    # The service's name in the notice of a new bank link (LINK-2).
    txn_service_name: str = Field(default="sekisho wallet", max_length=100)
    # A partner's request_id claimed by a request still running: retries get 409 until it finishes, or, if its
    # worker died, until this lease lapses and a retry takes the request over.
    txn_request_lease_seconds: float = Field(default=30.0, ge=1, le=600)
    # How long a partner's request_id is remembered (its answer replayed, a reversal's tombstone kept); the sweeper
    # forgets it after that, as Stripe forgets its keys after 24 hours. At least a day: longer than any hold, ATM
    # session or one-time code lives, so a request repeated after its key is forgotten can only be declined (its
    # withdrawal is authorized, expired or declined by then), never hold money twice.
    txn_request_id_retention_hours: int = Field(default=7 * 24, ge=24, le=366 * 24)
    # The victim relief policy (INC-7): unset, the one shipped beside this file (services/txn/relief_policy.toml).
    txn_relief_policy_file: Path | None = None
    # The banks behind links and charges (banks.py): only the in-process simulator so far, its accounts given as a
    # JSON list here (SEKISHO_TXN_BANK_SIMULATOR_ACCOUNTS) and/or in a file of the same shape (for `make run`).
    txn_bank_adapter: Literal["simulator"] = "simulator"
    txn_bank_simulator_accounts: list[SimulatedAccount] = Field(default_factory=list)
    txn_bank_simulator_file: Path | None = None

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.txn_bank_simulator_accounts or self.txn_bank_simulator_file is not None:
            problems.append(
                "SEKISHO_TXN_BANK_SIMULATOR_ACCOUNTS / SEKISHO_TXN_BANK_SIMULATOR_FILE is set: simulated bank "
                "accounts are for development (charges would move money that does not exist)"
            )
        return problems
