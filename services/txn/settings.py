"""Settings of the txn service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class TxnSettings(ServiceSettings):
    pass
