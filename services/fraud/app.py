"""The fraud service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.fraud import (
    api,
    cases_api,
    containment_api,
    incident_reports_api,
    incidents_api,
    inquiries_api,
    models,
    ops_api,
    rule_sets_api,
    scoring,
)
from services.fraud.runtime import FraudRuntime
from services.fraud.settings import FraudSettings
from shared import geo, trace
from shared.clock import Clock
from shared.database import Database
from shared.service import ServiceState, build_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


async def start_scoring(state: ServiceState) -> None:
    geo.warm_up()  # at start-up, not on the first customer's score
    scorer = scoring.Scorer()
    scorer.start(state.database, state.clock)
    reads = state.database
    if state.database.parallel_reads:
        # The reads of a score are the same few statements with other values: planned once, generically. Left to
        # itself PostgreSQL plans them again at every execution (custom plans), which cost more than running them
        # (0.3 ms of a 0.5 ms read). Only these connections are told so: the ops queries keep custom plans.
        reads = Database(
            state.database.target,
            pool_size=state.settings.database_pool_size,
            server_settings={"plan_cache_mode": "force_generic_plan"},
        )
    state.runtime = FraudRuntime(service=state, scorer=scorer, score_reads=reads)


async def stop_scoring(state: ServiceState) -> None:
    if not isinstance(state.runtime, FraudRuntime):
        return  # start-up did not get that far
    await state.runtime.scorer.stop()
    if state.runtime.score_reads is not state.database:
        await state.runtime.score_reads.dispose()


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
        routers=[
            trace.router,
            api.router,
            api.score_router,
            ops_api.router,
            cases_api.router,
            inquiries_api.router,
            rule_sets_api.router,
            incidents_api.router,
            containment_api.router,
            incident_reports_api.router,
        ],
        on_startup=[start_scoring],
        on_shutdown=[stop_scoring],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
        quiet_paths=frozenset({api.DENIED_NETWORKS_PATH}),  # every gateway replica reads it every second
    )
