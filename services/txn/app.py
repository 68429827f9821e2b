"""The txn service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.txn import (
    api,
    atm_api,
    bank_links_api,
    credit_information_api,
    disputes_api,
    models,
    ops_api,
    publications_api,
)
from services.txn.relief import load_relief_policy
from services.txn.runtime import build_runtime
from services.txn.settings import TxnSettings
from services.txn.sweeper import Sweeper
from shared import trace
from shared.clock import Clock
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: TxnSettings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or TxnSettings()
    relief_policy = load_relief_policy(settings.txn_relief_policy_file)  # before anything starts: fail fast
    sweepers: list[Sweeper] = []  # the one this app started, stopped at shutdown

    async def start_runtime(state: ServiceState) -> None:
        assert state.outbox is not None
        state.runtime = build_runtime(
            settings,
            database=state.database,
            cipher=state.cipher,
            clock=state.clock,
            outbox=state.outbox,
            client=state.client,
            relief_policy=relief_policy,
        )
        sweeper = Sweeper(
            database=state.database,
            clock=state.clock,
            poll_seconds=settings.txn_sweep_poll_seconds,
            retention=timedelta(hours=settings.txn_request_id_retention_hours),
        )
        sweeper.start()
        sweepers.append(sweeper)

    async def stop_runtime(state: ServiceState) -> None:
        while sweepers:
            await sweepers.pop().stop()

    return build_service_app(
        name="txn",
        settings=settings,
        migrations=MIGRATIONS,
        routers=[
            trace.router,
            api.router,
            bank_links_api.router,
            ops_api.router,
            disputes_api.router,
            disputes_api.ops_router,
            credit_information_api.router,
            publications_api.ops_router,
            publications_api.public_router,
            atm_api.customer_router,
            atm_api.partner_router,
        ],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
        on_startup=[start_runtime],
        on_shutdown=[stop_runtime],
    )
