"""The audit trail is append-only and hash-chained (SEC-6): `sekisho audit verify` finds a changed, removed or
reordered entry, as someone with rights on the database (not on the chain key) would leave it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sekisho.cli import main
from shared.audit import Actor, audit_entry
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import open_account
from tests.auth.test_audit import _bearer
from tests.harness import Backend, System, client_for, identity_issuer


async def _sql(system: System, statement: str, **params: Any) -> list[Any]:
    """Raw SQL on auth's own database, as an operator with rights on it; on PostgreSQL with the trail's trigger off
    for this statement, as such an operator can."""
    database = system.apps["auth"].state.service.database
    postgres = database.target.schema is not None
    async with database.transaction() as session:
        for table in ("audit_entry", "audit_customer") if postgres else ():
            await session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        result = await session.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        for table in ("audit_entry", "audit_customer") if postgres else ():
            await session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    return rows


async def _verify(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """`sekisho audit verify` on the test system's auth database; its exit code and what it printed."""
    monkeypatch.setenv("SEKISHO_DATA_DIR", str(backend.data_dir))
    if backend.database_url is not None:
        monkeypatch.setenv("SEKISHO_DATABASE_URL", backend.database_url)
        monkeypatch.setenv("SEKISHO_DATABASE_SCHEMA_PREFIX", backend.schema_prefix)
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify"])  # the command runs its own event loop
    out = capsys.readouterr()
    return code, out.out + out.err


async def _some_entries(system: System) -> None:
    """Staff sign-ins and reads: a trail of a few entries, in order."""
    customer_id = await open_account(system.gateway)
    _, analyst = await _bearer(system, "analyst.chain", "analyst")
    for _ in range(3):
        assert (await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=analyst)).status_code == 200


async def _seqs(system: System) -> list[int]:
    return [row.seq for row in await _sql(system, "SELECT seq FROM audit_entry ORDER BY seq")]


@pytest.mark.req("SEC-6")
async def test_concurrent_appends_from_auth_and_other_services_make_one_gap_free_chain_that_verifies(
    system: System, backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    customer_id = await open_account(system.gateway)
    _, analyst = await _bearer(system, "analyst.race", "analyst")
    actor = Actor(staff_id="stf_other", role="analyst", session_id="ses_other", ip="198.51.100.7")
    issuer = identity_issuer("notify", system.clock)

    async def batch(n: int) -> None:
        entries = [
            audit_entry(
                actor, service="notify", action="notification.view", target_type="customer",
                target_id=customer_id, at=system.clock.now(), detail={"batch": n},
            )
            for _ in range(5)
        ]  # fmt: skip
        async with client_for(system.apps["auth"]) as auth:
            auth.headers[IDENTITY_HEADER] = issuer.issue("auth")
            answer = await auth.post(
                "/internal/audit/batch", json={"messages": [{"key": e["entry_id"], "body": e} for e in entries]}
            )
        assert [r["status"] for r in answer.json()["results"]] == [201] * 5

    async def read() -> None:
        response = await system.gateway.get(f"/v1/ops/customers/{customer_id}", headers=analyst)
        assert response.status_code == 200

    await asyncio.gather(*(batch(n) for n in range(6)), *(read() for _ in range(10)))

    seqs = await _seqs(system)
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= 6 * 5 + 10
    code, output = await _verify(backend, monkeypatch, capsys)
    assert code == 0, output
    assert f"audit trail intact: {len(seqs)} entries" in output


async def test_a_redelivered_entry_takes_no_second_place_in_the_chain(system: System) -> None:
    actor = Actor(staff_id="stf_other", role="analyst", session_id="ses_other", ip="198.51.100.7")
    entry = audit_entry(
        actor, service="notify", action="notification.view", target_type="customer", target_id="cus_x",
        at=system.clock.now(),
    )  # fmt: skip
    issuer = identity_issuer("notify", system.clock)
    async with client_for(system.apps["auth"]) as auth:
        auth.headers[IDENTITY_HEADER] = issuer.issue("auth")
        first = await auth.post("/internal/audit", json=entry)
        again = await auth.post("/internal/audit", json=entry)
    assert (first.status_code, again.status_code) == (201, 200)
    assert await _seqs(system) == [1]


@pytest.mark.req("SEC-6")
async def test_verify_names_the_first_changed_entry(
    system: System, backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await _some_entries(system)
    code, output = await _verify(backend, monkeypatch, capsys)
    assert code == 0, output
    # An insider hides that they read the customer: the entry says it was a staff logout instead.
    await _sql(system, "UPDATE audit_entry SET action = 'staff.logout' WHERE seq = 3")

    code, output = await _verify(backend, monkeypatch, capsys)
    assert code == 1
    assert "broken at seq 3" in output
    assert "changed" in output


@pytest.mark.req("SEC-6")
async def test_verify_names_a_removed_entry(
    system: System, backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await _some_entries(system)
    await _sql(system, "DELETE FROM audit_customer WHERE entry_id = (SELECT id FROM audit_entry WHERE seq = 2)")
    await _sql(system, "DELETE FROM audit_entry WHERE seq = 2")

    code, output = await _verify(backend, monkeypatch, capsys)
    assert code == 1
    assert "broken at seq 2" in output
    assert "missing (removed)" in output


@pytest.mark.req("SEC-6")
async def test_verify_names_reordered_entries(
    system: System, backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await _some_entries(system)
    # Positions 2 and 3 swapped (through a free number: seq is unique).
    await _sql(system, "UPDATE audit_entry SET seq = -1 WHERE seq = 2")
    await _sql(system, "UPDATE audit_entry SET seq = 2 WHERE seq = 3")
    await _sql(system, "UPDATE audit_entry SET seq = 3 WHERE seq = -1")

    code, output = await _verify(backend, monkeypatch, capsys)
    assert code == 1
    assert "broken at seq 2" in output
    assert "reordered" in output


@pytest.mark.req("SEC-6")
async def test_verify_finds_an_entry_rewritten_with_a_made_up_chain_value(
    system: System, backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the key, recomputing a plain hash does not help: the chain is an HMAC."""
    import hashlib

    await _some_entries(system)
    (row,) = await _sql(system, "SELECT chain FROM audit_entry WHERE seq = 1")
    forged = hashlib.sha256(row.chain.encode() + b"customer.view").hexdigest()
    await _sql(system, "UPDATE audit_entry SET target_id = 'cus_nobody', chain = :c WHERE seq = 2", c=forged)

    code, output = await _verify(backend, monkeypatch, capsys)
    assert code == 1
    assert "broken at seq 2" in output


async def test_on_postgresql_the_trail_refuses_updates_and_deletes(system: System, backend: Backend) -> None:
    if backend.database_url is None:
        pytest.skip("SQLite has no triggers here: the chain is what finds a change there")
    await _some_entries(system)
    database = system.apps["auth"].state.service.database
    refused = (
        "UPDATE audit_entry SET ip = '192.0.2.99'",
        "DELETE FROM audit_customer",
        "DELETE FROM audit_entry WHERE id NOT IN (SELECT entry_id FROM audit_customer)",
        "TRUNCATE audit_entry, audit_customer",
    )
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.transaction() as session:
                await session.execute(text(statement))
    seqs = await _seqs(system)
    assert seqs == [1, 2, 3, 4]  # the sign-in and three reads, all still there


async def test_entries_stored_before_the_upgrade_are_chained_in_time_order(backend: Backend) -> None:
    from datetime import UTC, datetime, timedelta

    from alembic import command

    from sekisho.services import migrations_dir
    from services.auth import audit_chain
    from services.auth.settings import DEV_AUDIT_CHAIN_KEY
    from shared.database import Database, target_for
    from shared.migrations import alembic_config, upgrade

    database = Database(target_for(backend.settings("auth"), "auth"), pool_size=1)
    schema = database.target.schema
    try:
        async with database.engine.begin() as conn:
            if schema is not None:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(
                lambda sync: command.upgrade(alembic_config(migrations_dir("auth"), sync), "auth_0011_passkeys")
            )
        now = datetime.now(UTC)
        old = {"received_at": now, "service": "auth", "actor_id": "stf_a", "actor_role": "admin", "session_id": "",
               "ip": "192.0.2.1", "action": "customer.view", "target_type": "customer", "target_id": "cus_1",
               "detail": "{}"}  # fmt: skip
        columns = ", ".join(["id", "at", *old])
        values = ", ".join([":id", ":at", *(f":{name}" for name in old)])
        async with database.transaction() as session:
            for entry_id, minutes in (("aud_c", 1), ("aud_a", 3), ("aud_b", 1)):
                row = {**old, "id": entry_id, "at": now - timedelta(minutes=minutes)}
                if schema is None:  # SQLite keeps naive UTC text, as UtcDateTime writes it
                    row = {**row, "at": row["at"].replace(tzinfo=None), "received_at": now.replace(tzinfo=None)}
                await session.execute(text(f"INSERT INTO audit_entry ({columns}) VALUES ({values})"), row)
        await upgrade(database, migrations_dir("auth"))
        async with database.transaction() as session:
            ordered = (await session.execute(text("SELECT id, seq FROM audit_entry ORDER BY seq"))).all()
            verdict = await audit_chain.verify(session, DEV_AUDIT_CHAIN_KEY.encode())
    finally:
        await database.dispose()
    assert [(row.id, row.seq) for row in ordered] == [("aud_a", 1), ("aud_b", 2), ("aud_c", 3)]
    assert verdict.intact
    assert verdict.count == 3


def test_production_needs_a_chain_key_of_its_own_and_a_short_one_is_refused(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from services.auth.settings import DEV_AUDIT_CHAIN_KEY, AuthSettings
    from tests.security.test_production_mode import production

    assert AuthSettings(env="dev").chain_key() == DEV_AUDIT_CHAIN_KEY.encode()
    # Production settings without the key do not load (tests/security/test_production_mode.py names it); settings
    # made past that check still get no development key from chain_key().
    with pytest.raises(RuntimeError, match="SEKISHO_AUDIT_CHAIN_KEY"):
        AuthSettings.model_construct(env="prod", audit_chain_key=None).chain_key()
    values = production("auth", tmp_path)
    assert AuthSettings(**values).chain_key() == values["audit_chain_key"].encode()
    with pytest.raises(ValidationError):
        AuthSettings(audit_chain_key="too-short")
