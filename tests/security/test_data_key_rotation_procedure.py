"""Issue 17: the operator's procedure for rotating the data key, with the command itself (sekisho.cli.main, run
in a thread with the environment an operator gives it) on the databases of a system that keeps serving through the
gateway: `sekisho keys status` before, a run with the old key forgotten (refused, nothing changed), an interrupted
run (--limit) resumed by two runs at once, status at zero under the old key, the old key dropped. Slow tier (about
15 s: three system starts and a dozen runs of the command); tests/security/test_data_key_rotation.py proves the
rotation itself in the fast tier.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from sekisho.cli import main
from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from tests.auth.conftest import open_account
from tests.harness import Backend, in_process_system
from tests.security.test_data_key_rotation import NEW, OLD, expected, logs_in_by_email, opened, profile, sign_in
from tests.security.test_key_rotation import overrides


def operator_environment(monkeypatch: pytest.MonkeyPatch, backend: Backend, data_keys: str) -> None:
    """What an operator's shell gives `sekisho keys …`: the services' database settings and their data keys."""
    for name in ("SEKISHO_DATABASE_URL", "SEKISHO_DATABASE_SCHEMA_PREFIX", "SEKISHO_BLIND_INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEKISHO_DATA_DIR", str(backend.data_dir))
    monkeypatch.setenv("SEKISHO_DATA_KEYS", data_keys)
    if backend.database_url is not None:
        monkeypatch.setenv("SEKISHO_DATABASE_URL", backend.database_url)
        monkeypatch.setenv("SEKISHO_DATABASE_SCHEMA_PREFIX", backend.schema_prefix)


async def sekisho(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`sekisho ARGS` in-process (its own event loop, in a thread, as a separate process would run it)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def key_counts(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, int]]:
    """`sekisho keys status --json`: {"service table.column": {key id: values}}."""
    code, out, err = await sekisho(capsys, "keys", "status", "--json")
    assert code == 0, err
    status = json.loads(out)
    return {f"{c['service']} {c['table']}.{c['column']}": c["by_key"] for c in status["columns"]}


def under(counts: Mapping[str, Mapping[str, int]], key_id: str) -> int:
    return sum(by_key.get(key_id, 0) for by_key in counts.values())


async def test_a_rotation_moves_every_value_to_the_new_key_while_the_services_serve(
    backend: Backend, smtp: SmtpSink, sms: SmsSink, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    async with in_process_system(backend, overrides(smtp, sms, OLD), clock=clock) as system:
        await open_account(system.gateway)
        tokens = await sign_in(system, sms)  # a challenge's pending login, outbox messages, deliveries: sealed
        assert opened(await profile(system, tokens)) == expected()

    operator_environment(monkeypatch, backend, OLD)
    before = await key_counts(capsys)
    assert under(before, "t1") > 10
    for name in ("auth customer.email", "auth customer.address", "auth challenge.pending", "notify delivery.body"):
        assert before[name].get("t1", 0) >= 1, (name, before[name])
    assert under(before, "k2") == 0

    # Run with the new key alone by mistake (the old one not listed): nothing opens, nothing is changed.
    operator_environment(monkeypatch, backend, NEW)
    code, _, err = await sekisho(capsys, "keys", "rotate", "--service", "auth")
    assert code == 1
    assert "would not open" in err
    assert await key_counts(capsys) == before

    # The procedure: k2 first, t1 after it, services restarted; they serve throughout.
    operator_environment(monkeypatch, backend, f"{NEW},{OLD}")
    async with in_process_system(backend, overrides(smtp, sms, f"{NEW},{OLD}"), clock=clock) as system:
        tokens = await sign_in(system, sms)
        assert opened(await profile(system, tokens)) == expected()

        # Interrupted: --batch-size 1 --limit 2 re-encrypts two values (the customer's e-mail and phone) and stops.
        code, out, err = await sekisho(
            capsys, "keys", "rotate", "--service", "auth", "--batch-size", "1", "--limit", "2"
        )
        assert code == 0, err
        assert "--limit was reached" in err
        assert "auth customer.email: 1 re-encrypted, 0 skipped, 0 unreadable; 0 left" in err  # progress per batch
        partway = await key_counts(capsys)
        assert partway["auth customer.email"] == {"k2": 1}
        assert partway["auth customer.phone"] == {"k2": 1}
        assert partway["auth customer.name"] == {"t1": 1}
        assert under(partway, "t1") == under(before, "t1") - 2
        # Half under each key: the services read every attribute, and the e-mail still finds the customer.
        assert opened(await profile(system, tokens)) == expected()
        await logs_in_by_email(system)

        # Resumed, twice at once: each value is re-encrypted once, the other run skips it.
        first, second = await asyncio.gather(
            asyncio.to_thread(main, ["keys", "rotate", "--batch-size", "3"]),
            asyncio.to_thread(main, ["keys", "rotate", "--batch-size", "2"]),
        )
        assert (first, second) == (0, 0), capsys.readouterr().err
        after = await key_counts(capsys)
        assert under(after, "t1") == 0, after
        assert under(after, "k2") >= under(before, "t1")
        assert after["auth customer.address"] == {"k2": 1}

        # Everything reads during and after, through the public API; blind indexes were not touched.
        assert opened(await profile(system, tokens)) == expected()
        await logs_in_by_email(system)
        code, out, _ = await sekisho(capsys, "keys", "status")
        assert code == 0
        assert "every sealed value is under k2: the other keys can be dropped" in out
        code, out, _ = await sekisho(capsys, "keys", "rotate", "--json")  # nothing left: a run changes nothing
        assert code == 0
        assert {
            name: json.loads(out)[name] for name in ("rotated", "skipped", "unreadable", "remaining")
        } == dict.fromkeys(("rotated", "skipped", "unreadable", "remaining"), 0)

    # t1 dropped from the settings, services restarted: every value still opens, every login still works.
    async with in_process_system(backend, overrides(smtp, sms, NEW), clock=clock) as system:
        tokens = await sign_in(system, sms)
        assert opened(await profile(system, tokens)) == expected()
        await logs_in_by_email(system)
