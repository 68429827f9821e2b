"""Issue 17: rotating the data key without downtime (sekisho/keys.py). Data sealed under key t1; the services
restarted with a new key k2 first (t1 after it); the rotation re-encrypts every sealed column of every service under
k2 while the services serve, never overwriting what a service wrote meanwhile; nothing is left under t1, and after
t1 is dropped everything still reads and the customer still logs in by e-mail (blind indexes untouched).
The operator's whole procedure with the command itself: tests/security/test_data_key_rotation_procedure.py (slow).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sekisho.cli import main
from sekisho.keys import rotate, sealed_columns, status
from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from shared.crypto import FieldCipher, new_key_spec, parse_keys
from shared.sealed_columns import SealedColumn
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import full_login, login, stepped_up
from tests.harness import TEST_DATA_KEYS, Backend, System, in_process_system
from tests.security.test_key_rotation import overrides

OLD = TEST_DATA_KEYS  # key id t1
NEW = new_key_spec("k2")
NEW_ADDRESS = "大阪府大阪市北区梅田3-1-1"
_devices = itertools.count(1)


def bearer(tokens: Mapping[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def profile(system: System, tokens: Mapping[str, object]) -> dict[str, Any]:
    me = await system.gateway.get("/v1/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    answer: dict[str, Any] = me.json()
    return answer


def expected(address: str = CUSTOMER["address"]) -> dict[str, str]:
    return {
        "email": CUSTOMER["email"],
        "name": CUSTOMER["name"],
        "name_kana": CUSTOMER["name_kana"],
        "birth_date": CUSTOMER["birth_date"],
        "address": address,
    }


def opened(answer: Mapping[str, Any]) -> dict[str, str]:
    return {name: answer[name] for name in ("email", "name", "name_kana", "birth_date", "address")}


async def logs_in_by_email(system: System) -> None:
    """A blind-index look-up: the e-mail is still found (from a new device the password step asks for the second
    factor, where an e-mail it cannot find answers invalid_credentials)."""
    first = await login(system.gateway, device="device-never-seen-0001")
    assert (first.status_code, first.json()["code"]) == (401, "mfa_required"), first.text


async def sign_in(system: System, sms: SmsSink) -> dict[str, object]:
    """Tokens with both factors (the profile needs possession): a new device, the password and an SMS code, which
    reads the sealed pending login and phone number, and notify opens the sealed delivery to send the code."""
    return await full_login(system, sms, device=f"device-{next(_devices):04d}")


async def test_a_rotation_keeps_what_a_service_writes_meanwhile_and_leaves_nothing_under_the_old_key(
    backend: Backend, smtp: SmtpSink, sms: SmsSink
) -> None:
    """The compare-and-set: the customer changes their address after the rotation read it and before it wrote it;
    the customer's change stands (the rotation skips the row, counted), everything else moves to k2."""
    clock = FrozenClock(datetime.now(UTC))
    async with in_process_system(backend, overrides(smtp, sms, OLD), clock=clock) as system:
        await open_account(system.gateway)
    async with in_process_system(backend, overrides(smtp, sms, f"{NEW},{OLD}"), clock=clock) as system:
        tokens = await sign_in(system, sms)
        databases = {service: app.state.service.database for service, app in system.apps.items()}
        before = await status(databases)
        assert sum(entry.by_key.get("t1", 0) for entry in before) > 6  # the customer's six attributes, messages
        changed: list[httpx.Response] = []

        async def customer_changes_address(sealed: SealedColumn, rows: Sequence[Mapping[str, Any]]) -> None:
            if sealed.name != "customer.address" or changed:
                return
            assert [row["address"][:6] for row in rows] == ["v1.t1."]  # read under the old key, not yet written
            changed.append(
                await stepped_up(
                    system,
                    sms,
                    lambda grant: system.gateway.patch(
                        "/v1/me", json={"address": NEW_ADDRESS}, headers={**bearer(tokens), **grant}
                    ),
                )
            )

        cipher = FieldCipher(parse_keys(f"{NEW},{OLD}"))
        # Interrupted after two values (the e-mail and the phone): half the customer is under each key, all reads.
        partway = await rotate(databases, cipher, batch_size=1, limit=2)
        assert partway.stopped_at_limit
        assert (partway.total("rotated"), partway.total("remaining")) == (
            2,
            sum(e.by_key.get("t1", 0) for e in before) - 2,
        )
        assert opened(await profile(system, tokens)) == expected()
        await logs_in_by_email(system)
        # Resumed: the rest, with the customer changing their address in the middle of it.
        report = await rotate(databases, cipher, batch_size=4, before_write=customer_changes_address)
        assert changed[0].status_code == 200, changed[0].text
        address = next(entry for entry in report.columns if (entry.table, entry.column) == ("customer", "address"))
        assert (address.rotated, address.skipped, address.remaining) == (0, 1, 0)  # the service wrote it under k2
        assert report.total("unreadable") == report.total("remaining") == 0
        assert report.total("rotated") + report.total("skipped") == partway.total("remaining")  # each value once
        after = await status(databases)
        assert [entry.by_key for entry in after if "t1" in entry.by_key] == []
        assert next(e for e in after if (e.table, e.column) == ("customer", "email")).by_key == {"k2": 1}
        # The services read everything, the customer's change was not overwritten with the old address.
        assert opened(await profile(system, tokens)) == expected(NEW_ADDRESS)
        await logs_in_by_email(system)
        again = await rotate(databases, cipher)
        assert again.total("done") == again.total("remaining") == 0

    # t1 dropped from the settings, services restarted: every value still opens, the customer still logs in.
    async with in_process_system(backend, overrides(smtp, sms, NEW), clock=clock) as system:
        tokens = await sign_in(system, sms)
        assert opened(await profile(system, tokens)) == expected(NEW_ADDRESS)
        await logs_in_by_email(system)


def test_every_service_has_a_registry_the_command_reads() -> None:
    from shared.settings import SERVICE_NAMES

    assert {service: len(sealed_columns(service)) >= 1 for service in SERVICE_NAMES} == dict.fromkeys(
        SERVICE_NAMES, True
    )


def test_the_command_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--batch-size", "0"], ["--limit", "-1"], ["--service", "nosuch"]):
        with pytest.raises(SystemExit) as exited:
            main(["keys", "rotate", *args])
        assert exited.value.code == 2
    assert "invalid" in capsys.readouterr().err


def test_without_the_data_keys_the_command_changes_nothing_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deployment (PostgreSQL) without SEKISHO_DATA_KEYS: no dev key is made up, nothing is reached."""
    monkeypatch.delenv("SEKISHO_DATA_KEYS", raising=False)
    monkeypatch.setenv("SEKISHO_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    for command in ("rotate", "status"):
        assert main(["keys", command]) == 1
        assert "SEKISHO_DATA_KEYS is not set" in capsys.readouterr().err
