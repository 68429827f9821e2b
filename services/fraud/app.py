"""The fraud service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.fraud import api, models
from services.fraud.settings import FraudSettings
from shared import trace
from shared.clock import Clock
from shared.service import build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


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
        routers=[trace.router, api.router],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
    )
