"""What the txn service's routes work with, built once at start-up (app.py) or by a command beside the service
(sekisho/links.py): `build_runtime` is the one composition root of txn."""

from __future__ import annotations

from dataclasses import dataclass

from services.txn import banks
from services.txn.banks import BankAdapter
from services.txn.clients import AuthClient, FraudClient, KycClient
from services.txn.credit_bureau import CreditBureau, CreditBureauSimulator
from services.txn.relief import ReliefPolicy, load_relief_policy
from services.txn.settings import TxnSettings
from shared.clock import Clock
from shared.crypto import FieldCipher
from shared.database import Database
from shared.internal_client import InternalClient
from shared.outbox import Outbox


@dataclass
class TxnRuntime:
    settings: TxnSettings
    database: Database
    cipher: FieldCipher
    clock: Clock
    outbox: Outbox
    auth: AuthClient
    fraud: FraudClient
    kyc: KycClient
    relief_policy: ReliefPolicy  # INC-7: read once at start-up; a bad file stops txn
    bank: BankAdapter
    bureau: CreditBureau  # INC-6 (c): only the simulator so far; a real bureau's adapter goes here


def bank_adapter(settings: TxnSettings) -> BankAdapter:
    """The bank adapter settings choose (`txn_bank_adapter`): only the simulator so far."""
    match settings.txn_bank_adapter:
        case "simulator":
            return banks.simulator_from(settings.txn_bank_simulator_accounts, settings.txn_bank_simulator_file)


def build_runtime(
    settings: TxnSettings,
    *,
    database: Database,
    cipher: FieldCipher,
    clock: Clock,
    outbox: Outbox,
    client: InternalClient,
    relief_policy: ReliefPolicy | None = None,
) -> TxnRuntime:
    """txn's runtime; the relief policy is read from its file unless given (app.py reads it before start-up, so that
    a bad file stops the service at once)."""
    return TxnRuntime(
        settings=settings,
        database=database,
        cipher=cipher,
        clock=clock,
        outbox=outbox,
        auth=AuthClient(client),
        fraud=FraudClient(client),
        kyc=KycClient(client),
        relief_policy=relief_policy or load_relief_policy(settings.txn_relief_policy_file),
        bank=bank_adapter(settings),
        bureau=CreditBureauSimulator(),
    )
