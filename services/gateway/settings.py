"""Settings of the gateway (environment, prefix SEKISHO_)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from services.gateway.origins import parse_origin, serialize_origin
from shared.production import not_https
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
    # requests: every request counts. created: only requests the service answered with 201 (rate_limits.py).
    counts: Literal["requests", "created"] = "requests"

    @model_validator(mode="after")
    def _created_per_ip(self) -> RateLimit:
        # What was created is known only after the request is forwarded; the gateway holds its slot before it
        # knows the caller, by the one key it always has.
        if self.counts == "created" and self.per != "ip":
            raise ValueError('a limit with counts "created" must be per "ip"')
        return self


# Brute force and floods at the doors that take secrets or cost money (SMS), per address; a signed-in customer's
# routes per customer (a stolen token scraping); the partner API per partner. Login and challenge routes carry no
# customer at the gateway: auth counts those per customer (lockout; at most 10 codes an hour to one customer).
DEFAULT_RATE_LIMITS: tuple[RateLimit, ...] = (
    RateLimit(operation="login", per="ip", limit=20, window_seconds=60),
    RateLimit(operation="ops_login", per="ip", limit=20, window_seconds=60),
    RateLimit(operation="challenge", per="ip", limit=10, window_seconds=60),
    # Every route of a reset (ask, send, verify, complete) as a login's; auth also counts the resets asked for per
    # login id and per address over an hour (each sends an e-mail and an SMS).
    RateLimit(operation="password_reset", per="ip", limit=20, window_seconds=60),
    # Accounts created, not attempts: a refused sign-up (a weak password) costs nothing; staff clear an address
    # (a carrier's, shared by many customers) with DELETE /v1/ops/rate-limits.
    RateLimit(operation="account_open", per="ip", limit=5, window_seconds=3600, counts="created"),
    RateLimit(route_class="customer", per="customer", limit=120, window_seconds=60),
    RateLimit(route_class="partner", per="partner", limit=600, window_seconds=60),
)


class GatewaySettings(ServiceSettings):
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger request bodies get 413")
    # The limit of the routes that carry documents (routes.py `large_body`: the eKYC submission, four images in
    # base64 of up to SEKISHO_KYC_IMAGE_MAX_BYTES each); every other route keeps max_body_bytes.
    large_body_max_bytes: int = Field(default=24 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    default_route_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Off unless configured: each tells an outsider something about the inside (the routes a trace walks,
    # how long the work behind an answer took, every route and schema).
    diagnostics: bool = Field(default=False, description="expose /v1/diagnostics/{service}/trace to staff")
    server_timing: bool = Field(default=False, description="answers carry Server-Timing: app;dur=…")
    api_docs: bool = Field(default=False, description="serve FastAPI's /docs and /redoc pages")
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
    # A comma-separated list of origins (SEKISHO_PUBLIC_ORIGINS, e.g. `https://api.example.jp`): the addresses
    # partners call the gateway at. A partner signature over any other @target-uri is refused. Unset: the
    # gateway's own URL (SEKISHO_GATEWAY_URL), with its loopback aliases (origins.py).
    public_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # A comma-separated list of exact origins (SEKISHO_CORS_ORIGINS, e.g. `https://app.example.jp`): the web pages
    # whose scripts may call the customer API from a browser (cors.py). Empty (the default): no CORS headers at all.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Shared rate-limit counters; unset: the gateway's database.
    redis_url: str | None = None
    redis_key_prefix: str = "sekisho:"
    rate_limits: tuple[RateLimit, ...] = DEFAULT_RATE_LIMITS
    controls_refresh_seconds: float = Field(
        default=1.0, gt=0, le=5, description="how often each replica reloads kill switches and IP rules"
    )

    @field_validator("trusted_proxies", "public_origins", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("public_origins")
    @classmethod
    def _origins_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            parse_origin(origin)  # a ValueError names the bad one
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins_exact(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Each as a browser writes it in Origin (scheme://host[:port], lower case, no default port): compared exactly.
        # `null` and `*` are not origins: parse_origin refuses them.
        return tuple(dict.fromkeys(serialize_origin(parse_origin(origin)) for origin in value))

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        for name, on in (("DIAGNOSTICS", self.diagnostics), ("API_DOCS", self.api_docs)):
            if on:
                problems.append(f"SEKISHO_{name} is on: diagnostics and API docs are for development; turn it off")
        if self.server_timing:
            problems.append("SEKISHO_SERVER_TIMING is on: answers would tell anyone how long the work behind them took")
        if not self.public_origins:
            problems.append(
                "SEKISHO_PUBLIC_ORIGINS is not set: partner signatures would be checked against the gateway's "
                f"internal address ({self.gateway_url}); set the https origin partners call"
            )
        elif insecure := not_https(self.public_origins):
            problems.append(f"SEKISHO_PUBLIC_ORIGINS lists {', '.join(insecure)}: partners call the gateway over https")
        if insecure := not_https(self.cors_origins):
            problems.append(
                f"SEKISHO_CORS_ORIGINS lists {', '.join(insecure)}: only https pages of the public site may call "
                "the customer API from a browser"
            )
        return problems
