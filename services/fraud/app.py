"""The fraud service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.fraud import api, models, scoring
from services.fraud.settings import FraudSettings
from shared import trace
from shared.clock import Clock
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


async def start_scoring(state: ServiceState) -> None:
    state.extras["scorer"] = scoring.Scorer()


def create_app(
    settings: FraudSettings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    return build_service_app(
        name="fraud",
        settings=settings or FraudSettings(),
        migrations=MIGRATIONS,
        routers=[trace.router, api.router, api.score_router],
        on_startup=[start_scoring],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
    )
