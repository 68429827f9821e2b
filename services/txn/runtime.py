"""What the txn service's routes work with, built once at start-up in app.py: the one composition root of txn."""

from __future__ import annotations

from dataclasses import dataclass

from services.txn.banks import BankAdapter
from services.txn.clients import AuthClient, FraudClient, KycClient
from services.txn.settings import TxnSettings
from shared.clock import Clock
from shared.crypto import FieldCipher
from shared.database import Database
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
    bank: BankAdapter
