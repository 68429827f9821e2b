"""The kyc service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.kyc import api, internal_api, models, ops_api
from services.kyc.clients import AuthClient
from services.kyc.providers import DevelopmentProvider
from services.kyc.runtime import KycRuntime
from services.kyc.settings import KycSettings
from services.kyc.status_sync import StatusSync
from shared import trace
from shared.clock import Clock
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: KycSettings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or KycSettings()

    async def start_runtime(state: ServiceState) -> None:
        assert state.outbox is not None
        auth = AuthClient(state.client)
        status_sync = StatusSync(
            database=state.database,
            auth=auth,
            clock=state.clock,
            poll_seconds=settings.kyc_sync_poll_seconds,
            retry_max_seconds=settings.kyc_sync_retry_max_seconds,
        )
        state.runtime = KycRuntime(
            settings=settings,
            database=state.database,
            cipher=state.cipher,
            clock=state.clock,
            outbox=state.outbox,
            auth=auth,
            provider=DevelopmentProvider(),
            status_sync=status_sync,
        )
        status_sync.start()

    async def stop_runtime(state: ServiceState) -> None:
        if isinstance(state.runtime, KycRuntime):
            await state.runtime.status_sync.stop()

    return build_service_app(
        name="kyc",
        settings=settings,
        migrations=MIGRATIONS,
        routers=[trace.router, api.router, ops_api.router, internal_api.router],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
        on_startup=[start_runtime],
        on_shutdown=[stop_runtime],
    )
