"""The answers of every service's probes (`/healthz`, `/readyz`, shared/service.py), typed for the OpenAPI documents."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Liveness(BaseModel):
    status: Literal["alive"]
    service: str


class ReadyDatabase(BaseModel):
    dialect: str = Field(description="sqlite | postgresql")
    schema_: str | None = Field(alias="schema", description="the service's PostgreSQL schema; null on SQLite")
    head: str | None = Field(description="the migration revision the code expects")
    revision: str | None = Field(description="the revision the database is at")
    ok: bool


class Readiness(BaseModel):
    status: Literal["ready"]
    service: str
    database: ReadyDatabase
