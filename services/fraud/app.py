"""The fraud service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.fraud import api, cases_api, models, ops_api, rule_sets_api, scoring
from services.fraud.settings import FraudSettings
from shared import geo, trace
from shared.clock import Clock
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


async def start_scoring(state: ServiceState) -> None:
    geo.warm_up()  # at start-up, not on the first customer's score
    scorer = scoring.Scorer()
    scorer.start(state.database, state.clock)
    state.extras["scorer"] = scorer


async def stop_scoring(state: ServiceState) -> None:
    await state.extras["scorer"].stop()


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
        routers=[trace.router, api.router, api.score_router, ops_api.router, cases_api.router, rule_sets_api.router],
        on_startup=[start_scoring],
        on_shutdown=[stop_scoring],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
    )
