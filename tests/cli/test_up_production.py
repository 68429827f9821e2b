"""`SEKISHO_ENV=prod sekisho up SERVICE` with development defaults: the command itself, as an operator runs it, exits
non-zero naming every problem, before any service is started and without generating a single key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sekisho.launcher import free_ports


def up(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    port = free_ports(1)[0]
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    clean.update(
        SEKISHO_ENV="prod", SEKISHO_DATA_DIR=str(tmp_path / "var"), SEKISHO_GATEWAY_URL=f"http://127.0.0.1:{port}"
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "sekisho.cli", "up", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("service", ["gateway", "auth", "notify"])
def test_up_refuses_development_defaults_naming_each(tmp_path: Path, service: str) -> None:
    ran = up(tmp_path, service, SEKISHO_API_DOCS="true")
    assert ran.returncode == 2, ran.stderr
    assert "sekisho is up" not in ran.stdout
    named = {
        "gateway": ["SEKISHO_DATABASE_URL", "SEKISHO_IDENTITY_KEY", "SEKISHO_DATA_KEYS", "SEKISHO_API_DOCS"],
        "auth": ["SEKISHO_AUTH_SIGNING_KEY", "SEKISHO_AUDIT_CHAIN_KEY", "SEKISHO_BLIND_INDEX_KEY", "SEKISHO_WEBAUTHN"],
        "notify": ["SEKISHO_SMTP_HOST", "SEKISHO_SMS_URL", "SEKISHO_DATABASE_URL"],
    }[service]
    for variable in named:
        assert variable in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr
    # Production generates nothing: no development key was written anywhere under the data dir.
    assert not (tmp_path / "var").exists() or not any((tmp_path / "var").rglob("dev-*"))


def test_up_of_every_service_names_the_problems_of_each(tmp_path: Path) -> None:
    ran = up(tmp_path)
    assert ran.returncode == 2
    for service in ("gateway", "auth", "kyc", "txn", "fraud", "notify"):
        assert f"sekisho: {service}: SEKISHO_ENV=prod refuses" in ran.stderr, ran.stderr


def test_a_development_run_still_generates_its_keys(tmp_path: Path) -> None:
    """SEKISHO_ENV unset: `sekisho up` makes its dev keys as before (here it is stopped by a bad setting after
    that, before any service starts)."""
    ran = up(tmp_path, "gateway", SEKISHO_ENV="dev", SEKISHO_DATABASE_URL="mysql://nowhere/x")
    assert ran.returncode != 0
    assert (tmp_path / "var" / "dev-data-keys").exists()


def test_no_command_generates_a_key_in_production(tmp_path: Path) -> None:
    """`sekisho mailbox` and the others fall back on the dev keys of a local run; in production they stop instead."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    clean.update(SEKISHO_ENV="prod", SEKISHO_DATA_DIR=str(tmp_path / "var"))
    ran = subprocess.run(
        [sys.executable, "-m", "sekisho.cli", "mailbox"], env=clean, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 2
    assert "SEKISHO_ENV=prod refuses" in ran.stderr, ran.stderr
    assert "SEKISHO_SMTP_HOST" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not (tmp_path / "var").exists() or not any((tmp_path / "var").rglob("dev-*"))


def test_the_dev_keys_of_a_local_run_are_never_made_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekisho.cli import dev_data_keys, dev_identity_keys

    monkeypatch.setenv("SEKISHO_ENV", "prod")
    with pytest.raises(SystemExit, match="SEKISHO_DATA_KEYS is not set"):
        dev_data_keys(tmp_path)
    with pytest.raises(SystemExit, match="SEKISHO_IDENTITY_KEY is not set"):
        dev_identity_keys(tmp_path)
    assert list(tmp_path.iterdir()) == []
