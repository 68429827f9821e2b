"""Answers of the fraud service's staff routes that were plain dicts, typed for the gateway's public OpenAPI.

The fields are what the handlers send, with the same names and values (times as ISO 8601 text)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class EventView(BaseModel):
    """One event as staff see it (event_queries.event_view): a device by digest, never its key."""

    id: str
    type: str
    occurred_at: str
    producer: str
    customer_id: str | None
    device_id: str | None
    device_digest: str | None
    ip: str | None
    country: str | None
    asn: str | None
    outcome: str
    channel: str
    amount: int | None = Field(description="yen, for money events")
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventView]
    truncated: bool = Field(description="more events matched than `limit`")


class TrendPoint(BaseModel):
    at: str = Field(description="the bucket's start (UTC)")
    type: str
    outcome: str
    channel: str
    count: int


class Trends(BaseModel):
    bucket: Literal["hour", "day"]
    since: str
    until: str
    series: list[TrendPoint]


class Indicator(BaseModel):
    type: str = Field(description="ip | device | bank_account")
    value: str = Field(description="a device by digest")
    first_seen: str
    source: str = Field(description="deny_list | case")
    note: str


class IndicatorExport(BaseModel):
    generated_at: str
    indicators: list[Indicator]


class AffectedCustomer(BaseModel):
    customer_id: str
    source: str = Field(description="list | ip | device: how the containment found them")
    status: str = Field(description="pending | contained | failed")
    failure: str | None
    added_at: str
    contained_at: str | None
    locked_at: str | None


class AffectedCustomers(BaseModel):
    customers: list[AffectedCustomer]
    next_cursor: str | None


class BacktestReason(BaseModel):
    rule: str
    weight: int
    reason: str


class BacktestExample(BaseModel):
    event_id: str
    customer_id: str | None
    operation: str
    at: str
    score: int
    action: str
    label: Literal["fraud", "legit"] | None
    reasons: list[BacktestReason]


class BacktestConfusion(BaseModel):
    """Over labelled events: flagged fraud (tp), flagged legit (fp), missed fraud (fn), passed legit (tn)."""

    tp: int
    fp: int
    fn: int
    tn: int


class BacktestRule(BaseModel):
    hits: int
    fraud: int
    legit: int
    examples: list[BacktestExample]


class BacktestReportView(BaseModel):
    """What a rule-set version would have flagged over a period (backtest.BacktestReport.to_json)."""

    rule_set_version: int | None
    since: str
    until: str
    events: int
    labelled: int
    unlabelled: int
    flagged: int
    actions: dict[str, int]
    confusion: BacktestConfusion
    precision: float | None
    recall: float | None
    rules: dict[str, BacktestRule] = Field(description="every enabled rule, in the rule set's order")
    seconds: float
    events_per_second: float
