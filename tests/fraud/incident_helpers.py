"""What the incident tests share: staff signed in, an incident opened through the gateway."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.fraud.test_ops_api import Headers, staff
from tests.harness import System

INCIDENT: dict[str, Any] = {
    "title": "取引用アカウントへの不正ログイン",
    "kind": "unauthorized_access",
    "summary": "203.0.113.0/24 から複数の顧客アカウントへのパスワードリスト攻撃によるログインを検知",
}


async def desk(system: System) -> tuple[Headers, Headers, Headers]:
    """A supervisor, an analyst and an admin of the fraud desk."""
    _, supervisor = await staff(system, "sv.kato", "supervisor")
    _, analyst = await staff(system, "an.mori", "analyst")
    _, admin = await staff(system, "ad.ito", "admin")
    return supervisor, analyst, admin


async def open_incident(system: System, supervisor: Headers, **changes: Any) -> dict[str, Any]:
    now = system.clock.now()
    body = {
        **INCIDENT,
        "detected_at": (now - timedelta(hours=2)).isoformat(),
        "occurred_at": (now - timedelta(hours=5)).isoformat(),
        **changes,
    }
    response = await system.gateway.post("/v1/ops/incidents", json=body, headers=supervisor)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
