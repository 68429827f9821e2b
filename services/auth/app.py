"""The auth service: create_app() builds it; uvicorn runs it with --factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.auth import (
    api,
    fraud_actions_api,
    internal_api,
    models,
    ops_api,
    passkeys_api,
    profile_api,
    recovery_api,
    reset_api,
    staff_passkeys_api,
)
from services.auth.hashing import PasswordHasher
from services.auth.passwords import load_common_passwords
from services.auth.runtime import AuthRuntime
from services.auth.settings import AuthSettings
from shared import geo, trace
from shared.clock import Clock
from shared.service import ServiceState, build_service_app
from shared.tokens import TokenSigner

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: AuthSettings | None = None,
    *,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or AuthSettings()
    # The first key signs; the others (a rotation's overlap) are published so their tokens still verify.
    signing_key, *overlap = settings.token_signing_keys()
    settings.require_index_key()  # customers are found by their blind indexes
    settings.chain_key()  # the audit trail is chained with it: in production, no start without one

    async def start_runtime(state: ServiceState) -> None:
        load_common_passwords()  # once, at start-up, not on the first customer's request
        geo.warm_up()
        assert state.outbox is not None
        hasher = PasswordHasher()
        # Made now, not on the first unknown login id: that first call would be slower and tell.
        await hasher.verify_dummy("warm-up")
        state.runtime = AuthRuntime(
            settings=settings,
            database=state.database,
            cipher=state.cipher,
            clock=state.clock,
            outbox=state.outbox,
            hasher=hasher,
            signer=TokenSigner(signing_key, clock=state.clock, also_published=overlap),
        )

    return build_service_app(
        name="auth",
        settings=settings,
        migrations=MIGRATIONS,
        routers=[
            trace.router,
            api.router,
            profile_api.router,
            passkeys_api.router,
            reset_api.router,
            recovery_api.router,
            ops_api.router,
            staff_passkeys_api.router,
            internal_api.router,
            fraud_actions_api.router,
        ],
        clock=clock,
        transports=transports,
        outbox_table=models.outbox,
        on_startup=[start_runtime],
    )
