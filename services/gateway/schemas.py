"""Answers of the routes the gateway answers itself (controls_api.py, partners_api.py), typed for the public OpenAPI.

The fields are what the handlers sent as plain dicts before, with the same names and values (times as ISO 8601
text, controls.py `view`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class KillSwitchView(BaseModel):
    operation: str
    partner_id: str | None = Field(description="null: the switch is for every partner")
    active: bool = Field(description="true: the operation is stopped")
    reason: str
    set_by: str
    set_at: str


class KillSwitches(BaseModel):
    kill_switches: list[KillSwitchView] = Field(description="every switch that was ever set, with its state now")
    operations: list[str] = Field(description="the operation types that can be switched")


class IpRuleView(BaseModel):
    id: str
    route_class: str = Field(description="customer | partner | ops")
    kind: str = Field(description="allow | deny")
    cidr: str
    note: str
    created_by: str
    created_at: str


class IpRules(BaseModel):
    ip_rules: list[IpRuleView]


class IpRuleRemoved(IpRuleView):
    removed: bool


class RateLimitCleared(BaseModel):
    operation: str
    per: str = Field(description="ip | customer | partner")
    value: str
    limits_cleared: int = Field(description="how many limits of the operation kept a count for it")


class PartnerPing(BaseModel):
    """Whom a signed request authenticated as: a partner tests its signing with it."""

    partner: str
    key_id: str


class Jwk(BaseModel):
    """An access-token key's public half: an RFC 8037 OKP key for EdDSA (shared/tokens.py `public_jwk`)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="the public key, base64url")
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class JwkSet(BaseModel):
    keys: list[Jwk] = Field(description="the signing key, and during a rotation the key of the overlap")
