"""What the gateway's routes work with, built once at start-up (app.py): the one composition root of the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.gateway.bearer import BearerAuthenticator
from services.gateway.controls import GatewayControls
from services.gateway.enforcement import Enforcer
from services.gateway.settings import GatewaySettings
from services.gateway.signatures import PartnerAuthenticator
from shared.dependencies import runtime_dependency
from shared.service import ServiceState


@dataclass
class GatewayRuntime:
    service: ServiceState  # what every service holds: the internal client, the database, the outbox, the clock
    settings: GatewaySettings
    bearer: BearerAuthenticator
    partners: PartnerAuthenticator
    controls: GatewayControls
    enforcer: Enforcer


RuntimeDep = Annotated[GatewayRuntime, Depends(runtime_dependency(GatewayRuntime))]
