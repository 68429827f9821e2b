"""Settings of the gateway (environment, prefix SEKISHO_)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from shared.settings import ServiceSettings


class RateLimit(BaseModel, frozen=True):
    """At most `limit` requests per `window_seconds` (a fixed window) for each IP, customer or partner.

    It applies to requests of `operation`, or of every route of `route_class` (customer | partner | ops).
    """

    operation: str | None = None
    route_class: Literal["customer", "partner", "ops"] | None = None
    per: Literal["ip", "customer", "partner"]
    limit: int = Field(ge=1)
    window_seconds: int = Field(ge=1, le=86_400)


# Brute force and floods at the doors that take secrets or cost money (SMS), per address; a signed-in customer's
# routes per customer (a stolen token scraping); the partner API per partner. Login and challenge routes carry no
# customer at the gateway: auth counts those per customer (lockout; at most 10 codes an hour to one customer).
DEFAULT_RATE_LIMITS: tuple[RateLimit, ...] = (
    RateLimit(operation="login", per="ip", limit=20, window_seconds=60),
    RateLimit(operation="ops_login", per="ip", limit=20, window_seconds=60),
    RateLimit(operation="challenge", per="ip", limit=10, window_seconds=60),
    RateLimit(operation="account_open", per="ip", limit=5, window_seconds=3600),
    RateLimit(route_class="customer", per="customer", limit=120, window_seconds=60),
    RateLimit(route_class="partner", per="partner", limit=600, window_seconds=60),
)


class GatewaySettings(ServiceSettings):
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger request bodies get 413")
    default_route_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    diagnostics: bool = Field(default=True, description="expose /v1/diagnostics/{service}/trace")
    # SEKISHO_POLICY_FILE: the per-operation policy (services/gateway/policy.py); unset: the shipped policy.toml.
    policy_file: str | None = None
    # The same variable as auth's (SEKISHO_ACCESS_TOKEN_TTL_SECONDS): a token claiming a longer life is refused.
    access_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    score_timeout_seconds: float = Field(
        default=2.0, gt=0, le=10, description="how long to wait for fraud's score before deciding without it"
    )
    signature_window_seconds: int = Field(
        default=300, ge=5, le=3600, description="a partner signature's `created` may differ this much from our clock"
    )
    # A comma-separated list of CIDRs (SEKISHO_TRUSTED_PROXIES): only from these peers is X-Forwarded-For believed.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    # Shared rate-limit counters; unset: the gateway's database.
    redis_url: str | None = None
    redis_key_prefix: str = "sekisho:"
    rate_limits: tuple[RateLimit, ...] = DEFAULT_RATE_LIMITS
    controls_refresh_seconds: float = Field(
        default=1.0, gt=0, le=5, description="how often each replica reloads kill switches and IP rules"
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_cidrs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
