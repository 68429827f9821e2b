"""`sekisho keygen --identity` and the dev identity keys of `sekisho up`: one key per service, never shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sekisho.cli import dev_blind_index_key, dev_data_keys, dev_identity_keys, main
from shared.crypto import legacy_index_key_spec, new_key_spec, parse_keys
from shared.identity_keys import load_public_keys
from shared.settings import SERVICE_NAMES, ServiceSettings


def test_keygen_makes_one_key_per_service_and_the_public_keys_that_list_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--identity", str(tmp_path / "keys")]) == 0
    public = json.loads(capsys.readouterr().out)
    assert sorted(public) == sorted(SERVICE_NAMES)
    load_public_keys(public, SERVICE_NAMES)  # no key listed twice
    for service in SERVICE_NAMES:
        pem = (tmp_path / "keys" / f"{service}.pem").read_text()
        assert (tmp_path / "keys" / f"{service}.pem").stat().st_mode & 0o077 == 0
        settings = ServiceSettings(identity_key=pem, identity_public_keys=public)  # type: ignore[arg-type]
        settings.require_identity_keys(service)
        with pytest.raises(RuntimeError, match="does not list"):
            settings.require_identity_keys("gateway" if service != "gateway" else "auth")
    assert main(["keygen", "--identity", str(tmp_path / "keys"), "--service", "fraud"]) == 1  # never overwritten


def test_the_dev_keys_of_a_local_run_are_kept_and_differ_per_service(tmp_path: Path) -> None:
    first = dev_identity_keys(tmp_path)
    assert len(set(first.values())) == len(SERVICE_NAMES)
    assert dev_identity_keys(tmp_path) == first


def test_a_service_without_its_key_refuses_to_start() -> None:
    with pytest.raises(RuntimeError, match="SEKISHO_IDENTITY_KEY"):
        ServiceSettings().require_identity_keys("auth")


def test_a_local_run_keeps_the_indexes_of_its_old_data_dir_and_a_new_one_gets_its_own_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEKISHO_DATA_KEYS", raising=False)
    old, new = tmp_path / "old", tmp_path / "new"
    data_keys = dev_data_keys(old)  # a data dir of a local run from before
    assert dev_blind_index_key(old) == legacy_index_key_spec(data_keys, next(iter(parse_keys(data_keys))))
    fresh = dev_blind_index_key(new)
    assert fresh.startswith("dev1:")
    assert fresh != legacy_index_key_spec(dev_data_keys(new), "dev1")
    assert dev_blind_index_key(new) == fresh  # kept


def test_keygen_prints_the_legacy_blind_index_key_of_the_first_data_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_keys = f"{new_key_spec('k2')},{new_key_spec('k1')}"
    monkeypatch.setenv("SEKISHO_DATA_KEYS", data_keys)
    assert main(["keygen", "--legacy-blind-index", "k1"]) == 0
    assert capsys.readouterr().out.strip() == legacy_index_key_spec(data_keys, "k1")
    assert main(["keygen", "--legacy-blind-index", "k7"]) == 1


def test_keygen_makes_a_data_key_to_put_first_for_a_rotation(capsys: pytest.CaptureFixture[str]) -> None:
    """`sekisho keygen --kid k2` prints `k2:<base64>`, which put before the keys in use makes k2 the sealing key
    and keeps the old ones opening (README "Rotating the data key")."""
    assert main(["keygen", "--kid", "k2"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("k2:")
    keys = parse_keys(f"{printed},{new_key_spec('k1')}")
    assert list(keys) == ["k2", "k1"]
    assert len(keys["k2"]) == 32
    assert main(["keygen", "--kid", "k2"]) == 0
    assert capsys.readouterr().out.strip() != printed  # a new key each time
    for unusable in ("k:2", "k,2", "k 2", ""):  # SEKISHO_DATA_KEYS could not be parsed with it
        assert main(["keygen", "--kid", unusable]) == 1
        assert "letters and digits" in capsys.readouterr().err


def test_keygen_ed25519_prints_an_access_token_key_the_auth_setting_takes(capsys: pytest.CaptureFixture[str]) -> None:
    """`sekisho keygen --ed25519`: stdout is the value of SEKISHO_AUTH_SIGNING_KEYS (alone, or joined to the keys in
    use for a rotation); stderr names its key id and public half."""
    from services.auth.settings import AuthSettings
    from shared.tokens import key_id, public_jwk

    assert main(["keygen", "--ed25519"]) == 0
    first = capsys.readouterr()
    assert main(["keygen", "--ed25519"]) == 0
    second = capsys.readouterr()
    assert first.out != second.out  # a new key each time
    (key,) = AuthSettings(auth_signing_keys=first.out).token_signing_keys()  # type: ignore[arg-type]
    assert f"key id {key_id(key)}" in first.err
    assert json.loads(first.err.split("(JWK) ", 1)[1]) == public_jwk(key)
    assert "PRIVATE" not in first.err
    rotated = AuthSettings(auth_signing_keys=second.out + first.out).token_signing_keys()  # type: ignore[arg-type]
    assert [key_id(k) for k in rotated] == [second.err.split("key id ")[1].split(";")[0], key_id(key)]
    # The older name takes the same value.
    assert [key_id(k) for k in AuthSettings(auth_signing_key=first.out).token_signing_keys()] == [key_id(key)]  # type: ignore[arg-type]
    assert main(["keygen", "--ed25519", "--kid", "mine"]) == 1  # its id is its thumbprint, never a name
