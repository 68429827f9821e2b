"""Declarative, versioned rules: a rule set is data (JSON) naming conditions from this library, each with
its parameters, a weight, a human-readable reason and the actions to take on a hit.

The library is the vocabulary of conditions; a rule set chooses among them, tunes them and weighs them.
The score is the sum of the weights of the rules that hit (at most 100); the rule set's thresholds turn
it into the recommended action. A rule's reason is a template filled with what the condition saw, so an
analyst reads "phone changed 2 h ago", not "rule 7". Templates name what the condition saw with plain `{name}`
placeholders and nothing else: rendering is simple substitution, never `str.format` (a supervisor's
"{customer.__class__.__mro__}" would reach Python's internals, "{x:>1000000000}" ask for a gigabyte).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.fraud.features import JST, Features
from shared.geo import distance_km, impossible_travel

MONEY = frozenset({"withdrawal", "charge"})
ACTIONS = ("allow", "step_up", "review", "deny")
Action = Literal["allow", "step_up", "review", "deny"]
# What a hit can set off (actions.py), configurable per rule.
Reaction = Literal["open_case", "notify_customer", "lock_account", "revoke_sessions", "deny_device", "deny_ip"]

Detail = dict[str, Any]
Condition = Callable[[Features, Mapping[str, Any]], Detail | None]

PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}")


def template_problem(template: str) -> str | None:
    """Why a reason template cannot be used, or None: only `{name}` placeholders (lower-case letters, digits,
    underscores), no other brace, no attribute, index, conversion or format spec."""
    if "{" in PLACEHOLDER.sub("", template) or "}" in PLACEHOLDER.sub("", template):
        return "only plain {name} placeholders are allowed (no attributes, indexes, conversions or format specs)"
    return None


def render_reason(template: str, detail: Mapping[str, Any]) -> str:
    """The template with each `{name}` the condition gives replaced by its value; any other text (a name the
    condition does not give, a stray brace in a rule set stored before templates were checked) shown as written."""
    return PLACEHOLDER.sub(lambda m: str(detail[m.group(1)])[:200] if m.group(1) in detail else m.group(0), template)


@dataclass(frozen=True)
class Kind:
    """One condition of the library: what it checks, with which parameters by default."""

    check: Condition
    defaults: Mapping[str, Any]
    about: str


def _new_device(f: Features, p: Mapping[str, Any]) -> Detail | None:
    if f.context.customer_id is None or not f.customer_known or f.device_seen_before:
        return None
    return {}


def _unusual_country(f: Features, p: Mapping[str, Any]) -> Detail | None:
    if f.country is None or not f.countries_90d or f.country in f.countries_90d:
        return None
    return {"country": f.country, "usual": ", ".join(sorted(f.countries_90d))}


def _unusual_network(f: Features, p: Mapping[str, Any]) -> Detail | None:
    if f.asn is None or len(f.asns_90d) < int(p["min_known"]) or f.asn in f.asns_90d:
        return None
    return {"network": f.asn}


def _impossible_travel(f: Features, p: Mapping[str, Any]) -> Detail | None:
    if f.country is None or f.last_country is None or f.last_country_at is None:
        return None
    if not impossible_travel(f.last_country, f.last_country_at, f.country, f.context.at, max_kmh=float(p["max_kmh"])):
        return None
    minutes = (f.context.at - f.last_country_at).total_seconds() / 60
    km = distance_km(f.last_country, f.country) or 0.0
    return {"from": f.last_country, "to": f.country, "minutes": round(minutes), "km": round(km)}


def _failed_logins(f: Features, p: Mapping[str, Any]) -> Detail | None:
    worst = max(f.customer_failed_logins_1h, f.ip_failed_logins_1h)
    return {"failures": worst} if worst >= int(p["min_failures"]) else None


def _shared_ip(f: Features, p: Mapping[str, Any]) -> Detail | None:
    many = max(f.ip_customers_24h, f.network_customers_24h // int(p["network_divisor"]))
    return {"customers": many} if many >= int(p["min_customers"]) else None


def _shared_device(f: Features, p: Mapping[str, Any]) -> Detail | None:
    return {"customers": f.device_customers_30d} if f.device_customers_30d >= int(p["min_customers"]) else None


def _shared_bank_account(f: Features, p: Mapping[str, Any]) -> Detail | None:
    many = f.bank_account_customers_30d
    return {"customers": many} if many >= int(p["min_customers"]) else None


def _recent_change(f: Features, p: Mapping[str, Any]) -> Detail | None:
    within = float(p["within_hours"])
    changed = {name: h for name, h in f.hours_since_change.items() if name in p["changes"] and h <= within}
    if not changed:
        return None
    name, hours = min(changed.items(), key=lambda item: item[1])
    return {"change": name, "hours": _round_hours(hours)}


def _charge_after_new_link(f: Features, p: Mapping[str, Any]) -> Detail | None:
    if f.link_age_hours is None or f.link_age_hours > float(p["within_hours"]):
        return None
    return {"minutes": round(f.link_age_hours * 60)}


def _unusual_amount(f: Features, p: Mapping[str, Any]) -> Detail | None:
    amount = f.context.amount
    if amount is None or amount < int(p["min_amount"]):
        return None
    if len(f.past_amounts) < int(p["min_history"]):
        return None
    median, spread = f.amount_median or 0.0, f.amount_spread or 0.0
    if amount <= median + float(p["spreads"]) * max(spread, median * 0.1, 1.0):
        return None
    return {"amount": amount, "median": round(median)}


def _first_at_maximum(f: Features, p: Mapping[str, Any]) -> Detail | None:
    amount, maximum = f.context.amount, f.context.max_amount
    if amount is None or maximum is None or f.past_withdrawals > 0:
        return None
    return {"amount": amount, "maximum": maximum} if amount >= float(p["share"]) * maximum else None


def _velocity(f: Features, p: Mapping[str, Any]) -> Detail | None:
    amount = f.context.amount or 0
    if f.money_count_1m + 1 > int(p["max_per_minute"]) or f.money_count_1h + 1 > int(p["max_per_hour"]):
        return {"count": f.money_count_1h + 1, "amount": f.money_amount_24h + amount}
    if f.money_amount_24h + amount > int(p["max_amount_24h"]):
        return {"count": f.money_count_24h + 1, "amount": f.money_amount_24h + amount}
    return None


def _unusual_hour(f: Features, p: Mapping[str, Any]) -> Detail | None:
    if f.hour_share is None or f.hour_events < int(p["min_events"]) or f.hour_share >= float(p["max_share"]):
        return None
    return {"hour": f.context.at.astimezone(JST).hour}


def _deny_list(f: Features, p: Mapping[str, Any]) -> Detail | None:
    hits: list[str] = p.get("_hits", [])
    return {"lists": ", ".join(hits)} if hits else None


def _new_account_money(f: Features, p: Mapping[str, Any]) -> Detail | None:
    if f.customer_age_hours is None or f.customer_age_hours > float(p["within_hours"]):
        return None
    return {"hours": _round_hours(f.customer_age_hours)}


def _round_hours(hours: float) -> float | int:
    """2 h, 1.5 h, 36 h: tenths only where they say something."""
    rounded = round(hours, 1) if hours < 10 else round(hours)
    return int(rounded) if float(rounded).is_integer() else rounded


LIBRARY: dict[str, Kind] = {
    "new_device": Kind(_new_device, {}, "a device this customer never used before"),
    "unusual_country": Kind(_unusual_country, {}, "a country this customer was not seen in for 90 days"),
    "unusual_network": Kind(_unusual_network, {"min_known": 1}, "a network operator new for this customer"),
    "impossible_travel": Kind(_impossible_travel, {"max_kmh": 900}, "too far from the last place for the time"),
    "failed_logins": Kind(_failed_logins, {"min_failures": 5}, "many failed logins in the last hour"),
    "shared_ip": Kind(
        _shared_ip, {"min_customers": 5, "network_divisor": 4}, "one IP or network used by many customers (stuffing)"
    ),
    "shared_device": Kind(_shared_device, {"min_customers": 3}, "one device used by many customers (mule phones)"),
    "shared_bank_account": Kind(_shared_bank_account, {"min_customers": 2}, "one bank account for many customers"),
    "recent_change": Kind(
        _recent_change,
        {"within_hours": 72, "changes": ["phone", "email", "password", "mfa", "recovery_code"]},
        "contact data or credentials changed shortly before",
    ),
    "charge_after_new_link": Kind(
        _charge_after_new_link, {"within_hours": 24}, "money moved soon after the bank account was linked"
    ),
    "unusual_amount": Kind(
        _unusual_amount, {"min_amount": 10000, "min_history": 3, "spreads": 5}, "an amount unusual for the customer"
    ),
    "first_at_maximum": Kind(_first_at_maximum, {"share": 0.9}, "a first withdrawal at the line's maximum"),
    "velocity": Kind(
        _velocity,
        {"max_per_minute": 2, "max_per_hour": 5, "max_amount_24h": 300000},
        "too many or too much in a short time",
    ),
    "unusual_hour": Kind(_unusual_hour, {"min_events": 10, "max_share": 0.05}, "an hour this customer is never active"),
    "deny_list": Kind(_deny_list, {}, "on a deny list"),
    "new_account_money": Kind(_new_account_money, {"within_hours": 168}, "a recently opened account moving money"),
}


class RuleConfig(BaseModel):
    """One rule of a rule set."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    kind: str
    weight: int = Field(ge=0, le=100)
    reason: str = Field(min_length=1, max_length=300, description="template over the condition's details")
    params: dict[str, Any] = Field(default_factory=dict)
    operations: list[str] | None = Field(default=None, description="None: every operation")
    actions: list[Reaction] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in LIBRARY:
            raise ValueError(f"unknown kind {kind!r}; the library has {', '.join(sorted(LIBRARY))}")
        return kind

    @model_validator(mode="after")
    def _known_params(self) -> RuleConfig:
        unknown = set(self.params) - set(LIBRARY[self.kind].defaults)
        if unknown:
            raise ValueError(f"unknown parameter(s) for {self.kind}: {', '.join(sorted(unknown))}")
        return self

    def settings(self) -> dict[str, Any]:
        return {**LIBRARY[self.kind].defaults, **self.params}


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step_up: int = Field(ge=1, le=100)
    review: int = Field(ge=1, le=100)
    deny: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.step_up <= self.review <= self.deny:
            raise ValueError("thresholds must satisfy step_up <= review <= deny")
        return self

    def action_for(self, score: int) -> Action:
        if score >= self.deny:
            return "deny"
        if score >= self.review:
            return "review"
        if score >= self.step_up:
            return "step_up"
        return "allow"


class RuleSetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: Thresholds
    rules: list[RuleConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSetBody:
        ids = [rule.id for rule in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique within a rule set")
        return self


@dataclass(frozen=True)
class Hit:
    rule: str
    weight: int
    reason: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Assessment:
    score: int
    action: Action
    hits: tuple[Hit, ...]
    refusal: Literal["device_blocked"] | None = (
        None  # "device_blocked": denied because the device is believed infected (SEC-3)
    )

    @property
    def summary(self) -> str:
        """The reasons in one line, heaviest first: "new device + phone changed 2 h ago + …"."""
        return " + ".join(hit.reason for hit in sorted(self.hits, key=lambda h: -h.weight))


@dataclass(frozen=True)
class Lists:
    """What the deny lists hold, as the scorer checks them (lists.py loads them); devices by digest."""

    ips: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    devices: frozenset[str] = frozenset()
    customers: frozenset[str] = frozenset()
    bank_accounts: frozenset[str] = frozenset()
    infected_devices: frozenset[str] = frozenset()  # digests deny-listed as infected (SEC-3): a subset of devices

    def hits(self, f: Features) -> list[str]:
        found = []
        if f.context.ip and self.ips:
            try:
                address = ipaddress.ip_address(f.context.ip)
            except ValueError:
                address = None
            if address is not None and any(address in network for network in self.ips):
                found.append("ip")
        if f.device_digest and f.device_digest in self.devices:  # the list holds digests (lists.normalise)
            found.append("device")
        if f.context.customer_id and f.context.customer_id in self.customers:
            found.append("customer")
        if f.context.bank_account and f.context.bank_account in self.bank_accounts:
            found.append("bank_account")
        return found


def evaluate(
    body: RuleSetBody, features: Features, *, lists: Lists | None = None, suppressed: frozenset[str] = frozenset()
) -> Assessment:
    """Run every enabled rule that applies to this operation and is not snoozed for this customer/device/IP."""
    hits: list[Hit] = []
    deny_hits = (lists or Lists()).hits(features)
    for rule in body.rules:
        if not rule.enabled or rule.id in suppressed:
            continue
        if rule.operations is not None and features.context.operation not in rule.operations:
            continue
        settings = rule.settings()
        if rule.kind == "deny_list":
            settings["_hits"] = deny_hits
        detail = LIBRARY[rule.kind].check(features, settings)
        if detail is None:
            continue
        reason = render_reason(rule.reason, detail)
        hits.append(Hit(rule.id, rule.weight, reason, tuple(rule.actions)))
    score = min(100, sum(hit.weight for hit in hits))
    action = body.thresholds.action_for(score)
    infected = features.device_digest is not None and features.device_digest in (lists or Lists()).infected_devices
    return Assessment(score, action, tuple(hits), "device_blocked" if infected and action == "deny" else None)
