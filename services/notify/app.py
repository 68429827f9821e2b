"""The notify service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.notify import api, models
from services.notify.delivery import DeliveryWorker
from services.notify.rendering import Renderer, Sender
from services.notify.runtime import NotifyRuntime
from services.notify.settings import NotifySettings
from shared import trace
from shared.clock import Clock
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: NotifySettings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or NotifySettings()

    async def start_delivery(state: ServiceState) -> None:
        renderer = Renderer(
            Sender(
                company=settings.company_name,
                support_phone=settings.support_phone,
                support_hours=settings.support_hours,
            )
        )
        worker = DeliveryWorker(
            settings=settings, database=state.database, cipher=state.cipher, clock=state.clock, metrics=state.metrics
        )
        state.runtime = NotifyRuntime(settings=settings, renderer=renderer, worker=worker)
        worker.start()

    async def stop_delivery(state: ServiceState) -> None:
        if isinstance(state.runtime, NotifyRuntime):
            await state.runtime.worker.stop()

    return build_service_app(
        name="notify",
        settings=settings,
        migrations=MIGRATIONS,
        routers=[trace.router, api.router],
        clock=clock,
        transports=transports,
        on_startup=[start_delivery],
        on_shutdown=[stop_delivery],
        outbox_table=models.outbox,
    )
