"""Outsourced operators (DATA-4): whatever their role, no full values, no indicator export, no audit trail; and
every read they make is in the trail marked as theirs, which an in-house admin filters by."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from sekisho.sinks import SmsSink, SmtpSink
from services.auth import models as auth_models
from services.auth.hashing import PasswordHasher
from services.auth.staff import create_staff
from shared.clock import FrozenClock
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_staff import staff_tokens
from tests.harness import Backend, System, in_process_system
from tests.kyc.conftest import KYC, SIGNING_KEY, ekyc_body, signed_in, start
from tests.servers import eventually_async

Headers = dict[str, str]


async def _member(system: System, login_id: str, role: str, *, outsourced: bool) -> tuple[str, dict[str, Any]]:
    """A signed-in staff member: their id and their shift's tokens."""
    state = system.apps["auth"].state.service
    async with state.database.transaction() as session:
        created = await create_staff(
            session, login_id=login_id, role=role, hasher=PasswordHasher(), cipher=state.cipher,
            now=system.clock.now(), outsourced=outsourced,
        )  # fmt: skip
    tokens = await staff_tokens(system, created)
    async with state.database.transaction() as session:
        s = auth_models.staff
        staff_id = (await session.execute(select(s.c.id).where(s.c.login_id == login_id))).scalar_one()
    return staff_id, tokens


def _bearer(tokens: dict[str, Any]) -> Headers:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.mark.req("DATA-4")
async def test_an_outsourced_operator_is_restricted_whatever_the_role_and_every_read_is_logged_as_theirs(
    system: System,
) -> None:
    customer_id = await open_account(system.gateway)
    outsourced_id, outsourced_tokens = await _member(system, "vendor.sato", "supervisor", outsourced=True)
    _, outsourced_admin_tokens = await _member(system, "vendor.admin", "admin", outsourced=True)
    insider_id, insider_tokens = await _member(system, "supervisor.mori", "supervisor", outsourced=False)
    _, admin_tokens = await _member(system, "admin.kudo", "admin", outsourced=False)
    outsourced, admin = _bearer(outsourced_tokens), _bearer(admin_tokens)
    full = {"full": "true", "reason": "本人確認の電話"}

    # Masked values, as any supervisor: the work goes on.
    masked = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=outsourced)
    assert masked.status_code == 200
    assert masked.json()["email"] != CUSTOMER["email"]
    # Full values: refused, with a reason or without, and after a refresh of the token too.
    refreshed = await system.gateway.post(
        "/v1/ops/auth/refresh", json={"refresh_token": outsourced_tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    for headers in (outsourced, _bearer(refreshed.json())):
        for params in (full, {"full": "true"}):
            refused = await system.gateway.get(f"/v1/ops/customers/{customer_id}", params=params, headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "outsourced_restricted"
            assert CUSTOMER["email"] not in refused.text
    # The in-house supervisor, same role, same request: shown.
    shown = await system.gateway.get(f"/v1/ops/customers/{customer_id}", params=full, headers=_bearer(insider_tokens))
    assert shown.json()["email"] == CUSTOMER["email"]
    # No indicator export (supervisor's route), no audit trail even as an admin.
    indicators = await system.gateway.get("/v1/ops/fraud/indicators", headers=outsourced)
    assert (indicators.status_code, indicators.json()["code"]) == (403, "outsourced_restricted")
    trail = await system.gateway.get("/v1/ops/audit", headers=_bearer(outsourced_admin_tokens))
    assert (trail.status_code, trail.json()["code"]) == (403, "outsourced_restricted")

    # A read at another service: its entry arrives through that service's outbox, marked.
    events = await system.gateway.get("/v1/ops/fraud/events", params={"customer_id": customer_id}, headers=outsourced)
    assert events.status_code == 200

    async def marked() -> list[dict[str, Any]]:
        found = await system.gateway.get(
            "/v1/ops/audit", params={"outsourced": "true", "customer_id": customer_id}, headers=admin
        )
        assert found.status_code == 200, found.text
        entries: list[dict[str, Any]] = found.json()["entries"]
        return entries

    async def arrived() -> bool:
        return any(e["service"] == "fraud" for e in await marked())

    await eventually_async(arrived, within=5.0)
    entries = await marked()
    assert {e["actor_id"] for e in entries} == {outsourced_id}
    assert all(e["outsourced"] for e in entries)
    assert {(e["service"], e["action"]) for e in entries} == {
        ("auth", "customer.view"),
        ("fraud", "fraud_events.search"),
    }
    insiders = await system.gateway.get(
        "/v1/ops/audit", params={"outsourced": "false", "customer_id": customer_id, "action": "customer.view"},
        headers=admin,
    )  # fmt: skip
    assert {e["actor_id"] for e in insiders.json()["entries"]} == {insider_id}
    (insider_read,) = insiders.json()["entries"]
    assert insider_read["detail"] == {"full": True, "reason": "本人確認の電話"}
    assert insider_read["outsourced"] is False


@pytest.fixture
async def kyc_system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": KYC,
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


@pytest.mark.req("DATA-4")
async def test_an_outsourced_supervisor_sees_a_kyc_case_masked_but_never_its_documents(
    kyc_system: System, sms: SmsSink
) -> None:
    system = kyc_system
    started = await start(system, await signed_in(system, sms), ekyc_body())
    assert started.status_code in (201, 202), started.text
    case = f"/v1/ops/kyc/verifications/{started.json()['verification_id']}"
    _, outsourced_tokens = await _member(system, "vendor.kyc", "supervisor", outsourced=True)
    _, insider_tokens = await _member(system, "supervisor.kyc", "supervisor", outsourced=False)

    masked = await system.gateway.get(case, headers=_bearer(outsourced_tokens))
    assert masked.status_code == 200
    assert masked.json()["declared"]["name"] != CUSTOMER["name"]
    refused = await system.gateway.get(case, params={"images": "true"}, headers=_bearer(outsourced_tokens))
    assert (refused.status_code, refused.json()["code"]) == (403, "outsourced_restricted")
    assert CUSTOMER["name"] not in refused.text
    shown = await system.gateway.get(case, params={"images": "true"}, headers=_bearer(insider_tokens))
    assert shown.status_code == 200
    assert shown.json()["declared"]["name"] == CUSTOMER["name"]


async def test_sekisho_staff_create_outsourced_makes_an_outsourced_operator(
    system: System, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from sekisho.cli import main
    from tests.harness import TEST_DATA_KEYS

    monkeypatch.setenv("SEKISHO_DATA_DIR", str(backend.data_dir))
    monkeypatch.setenv("SEKISHO_DATA_KEYS", TEST_DATA_KEYS)
    if backend.database_url is not None:
        monkeypatch.setenv("SEKISHO_DATABASE_URL", backend.database_url)
        monkeypatch.setenv("SEKISHO_DATABASE_SCHEMA_PREFIX", backend.schema_prefix)
    for name, flags in (("vendor.cli", ["--outsourced"]), ("inhouse.cli", [])):
        code = await asyncio.to_thread(main, ["staff", "create", name, "--role", "supervisor", "--json", *flags])
        assert code == 0
    async with system.apps["auth"].state.service.database.transaction() as session:
        s = auth_models.staff
        rows = {row.login_id: row.outsourced for row in await session.execute(select(s.c.login_id, s.c.outsourced))}
    assert rows == {"vendor.cli": True, "inhouse.cli": False}
