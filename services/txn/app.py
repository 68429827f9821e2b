"""The txn service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.txn import api, bank_links_api, banks, models, ops_api
from services.txn.clients import AuthClient, FraudClient, KycClient
from services.txn.runtime import TxnRuntime
from services.txn.settings import TxnSettings
from shared import trace
from shared.clock import Clock
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def bank_adapter(settings: TxnSettings) -> banks.BankAdapter:
    """The bank adapter settings choose (`txn_bank_adapter`): only the simulator so far."""
    match settings.txn_bank_adapter:
        case "simulator":
            return banks.simulator_from(settings.txn_bank_simulator_accounts, settings.txn_bank_simulator_file)


def create_app(
    settings: TxnSettings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or TxnSettings()

    async def start_runtime(state: ServiceState) -> None:
        assert state.outbox is not None
        state.runtime = TxnRuntime(
            settings=settings,
            database=state.database,
            cipher=state.cipher,
            clock=state.clock,
            outbox=state.outbox,
            auth=AuthClient(state.client),
            fraud=FraudClient(state.client),
            kyc=KycClient(state.client),
            bank=bank_adapter(settings),
        )

    return build_service_app(
        name="txn",
        settings=settings,
        migrations=MIGRATIONS,
        routers=[trace.router, api.router, bank_links_api.router, ops_api.router],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
        on_startup=[start_runtime],
    )
