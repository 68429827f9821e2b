"""Settings of the gateway (environment, prefix SEKISHO_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger request bodies get 413")
    default_route_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    diagnostics: bool = Field(default=True, description="expose /v1/diagnostics/{service}/trace")
