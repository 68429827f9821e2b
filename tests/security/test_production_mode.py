"""SEKISHO_ENV=prod: every development default is refused when the settings load, all of them named at once; a
complete production configuration (real keys made for the test) loads and runs; dev and test are as before."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from sekisho.services import settings_class
from sekisho.sinks import SmsSink, SmtpSink
from services.auth.settings import DEV_AUDIT_CHAIN_KEY
from shared.crypto import new_key_spec
from shared.identity_keys import new_identity_key, public_keys_json
from shared.production import (
    DEV_AUTH_SIGNING_KEY_FILE,
    DEV_BLIND_INDEX_KEY_FILE,
    DEV_DATA_KEYS_FILE,
    DEV_IDENTITY_KEYS_DIR,
    ProductionRefused,
)
from shared.settings import SERVICE_NAMES, ServiceSettings
from shared.tokens import new_signing_key
from tests.auth.conftest import open_account
from tests.auth.test_api_login import login
from tests.harness import Backend, System, client_for, in_process_system
from tests.kyc.jpki_ca import root_ca

POSTGRES = "postgresql+asyncpg://sekisho:secret@db.internal:5432/sekisho"
_PRIVATE: dict[str, str] = {}


def identity_keys() -> dict[str, str]:
    """Each service's identity key, made once for this module (real Ed25519 keys, as `sekisho keygen` makes)."""
    if not _PRIVATE:
        _PRIVATE.update({service: new_identity_key()[0] for service in SERVICE_NAMES})
    return _PRIVATE


def production(service: str, data_dir: Path) -> dict[str, Any]:
    """A complete production configuration of `service`, as a Deployment would give it."""
    values: dict[str, Any] = {
        "env": "prod",
        "service": service,
        "data_dir": data_dir,
        "database_url": POSTGRES,
        "identity_key": identity_keys()[service],
        "identity_public_keys": json.loads(public_keys_json(identity_keys())),
        "data_keys": new_key_spec("k1"),
        "blind_index_key": new_key_spec("bi1"),
    }
    values.update(SERVICE_PRODUCTION.get(service, {}))
    if service == "auth":
        values.update(auth_signing_key=new_signing_key()[0], audit_chain_key=secrets.token_urlsafe(32))
    return values


SERVICE_PRODUCTION: dict[str, dict[str, Any]] = {
    "gateway": {"public_origins": "https://api.example.jp", "cors_origins": "https://app.example.jp"},
    "auth": {"webauthn_rp_id": "example.jp", "webauthn_origins": ["https://app.example.jp"]},
    "notify": {
        "smtp_host": "smtp.example.jp",
        "smtp_port": 587,
        "smtp_starttls": True,
        "sms_url": "https://sms.example.jp/send",
        "smtp_from": "no-reply@example.jp",
        "support_phone": "0120-123-456",
    },
}


def refusal(service: str, values: dict[str, Any]) -> ProductionRefused:
    with pytest.raises(ValidationError) as raised:
        settings_class(service)(**values)
    causes = [(error.get("ctx") or {}).get("error") for error in raised.value.errors()]
    refused = [cause for cause in causes if isinstance(cause, ProductionRefused)]
    assert len(refused) == 1, raised.value
    # Whatever is refused, no key reaches the message (the input is hidden).
    for secret in ("identity_key", "data_keys", "blind_index_key", "auth_signing_key", "audit_chain_key"):
        if isinstance(values.get(secret), str) and values[secret] != DEV_AUDIT_CHAIN_KEY:
            assert values[secret] not in str(raised.value)
    return refused[0]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_complete_production_configuration_loads(service: str, tmp_path: Path) -> None:
    settings = settings_class(service)(**production(service, tmp_path))
    assert settings.env == "prod"
    assert settings.production_problems() == []


def _dev_file(data_dir: Path, name: str, value: str) -> str:
    (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / name).write_text(value + "\n")
    return value


# (service, what changes from the complete configuration, the variable the one problem must name)
DEFAULTS: list[tuple[str, dict[str, Any], str]] = [
    *[(service, {"database_url": None}, "SEKISHO_DATABASE_URL") for service in SERVICE_NAMES],
    ("txn", {"database_url": "sqlite+aiosqlite:///var/txn.db"}, "SEKISHO_DATABASE_URL"),
    *[(service, {"identity_key": None}, "SEKISHO_IDENTITY_KEY") for service in SERVICE_NAMES],
    ("fraud", {"identity_public_keys": None}, "SEKISHO_IDENTITY_PUBLIC_KEYS"),
    *[(service, {"data_keys": None}, "SEKISHO_DATA_KEYS") for service in SERVICE_NAMES],
    ("kyc", {"log_level": "DEBUG"}, "SEKISHO_LOG_LEVEL"),
    ("gateway", {"diagnostics": True}, "SEKISHO_DIAGNOSTICS"),
    ("gateway", {"api_docs": True}, "SEKISHO_API_DOCS"),
    ("gateway", {"server_timing": True}, "SEKISHO_SERVER_TIMING"),
    ("gateway", {"public_origins": ""}, "SEKISHO_PUBLIC_ORIGINS"),
    ("gateway", {"public_origins": "http://api.example.jp"}, "SEKISHO_PUBLIC_ORIGINS"),
    ("gateway", {"cors_origins": "https://app.example.jp,http://localhost:3000"}, "SEKISHO_CORS_ORIGINS"),
    ("auth", {"auth_signing_key": None}, "SEKISHO_AUTH_SIGNING_KEY"),
    ("auth", {"blind_index_key": None}, "SEKISHO_BLIND_INDEX_KEY"),
    ("auth", {"audit_chain_key": None}, "SEKISHO_AUDIT_CHAIN_KEY"),
    ("auth", {"audit_chain_key": DEV_AUDIT_CHAIN_KEY}, "SEKISHO_AUDIT_CHAIN_KEY"),
    ("auth", {"webauthn_rp_id": "localhost"}, "SEKISHO_WEBAUTHN_RP_ID"),
    ("auth", {"webauthn_origins": ["https://app.example.jp", "http://localhost:8000"]}, "SEKISHO_WEBAUTHN_ORIGINS"),
    ("notify", {"smtp_host": None}, "SEKISHO_SMTP_HOST"),
    ("notify", {"sms_url": None}, "SEKISHO_SMS_URL"),
    ("notify", {"smtp_starttls": False}, "SEKISHO_SMTP_STARTTLS"),
    ("notify", {"smtp_from": "no-reply@sekisho.invalid"}, "SEKISHO_SMTP_FROM"),
    ("notify", {"support_phone": "0120-000-000"}, "SEKISHO_SUPPORT_PHONE"),
    ("txn", {"txn_bank_simulator_file": "var/banks.json"}, "SEKISHO_TXN_BANK_SIMULATOR"),
]


@pytest.mark.parametrize(("service", "change", "variable"), DEFAULTS)
def test_each_development_default_is_refused_by_name(
    service: str, change: dict[str, Any], variable: str, tmp_path: Path
) -> None:
    refused = refusal(service, {**production(service, tmp_path), **change})
    assert len(refused.problems) == 1, refused.problems
    assert variable in refused.problems[0]
    assert variable in str(refused)


@pytest.mark.parametrize(
    ("service", "variable", "file"),
    [
        ("gateway", "data_keys", DEV_DATA_KEYS_FILE),
        ("auth", "blind_index_key", DEV_BLIND_INDEX_KEY_FILE),
        ("auth", "auth_signing_key", DEV_AUTH_SIGNING_KEY_FILE),
        ("notify", "identity_key", f"{DEV_IDENTITY_KEYS_DIR}/notify.pem"),
    ],
)
def test_a_key_sekisho_up_generated_for_development_is_refused(
    service: str, variable: str, file: str, tmp_path: Path
) -> None:
    values = production(service, tmp_path)
    _dev_file(tmp_path, file, values[variable])  # the configured key is the one `sekisho up` left in the data dir
    refused = refusal(service, values)
    assert len(refused.problems) == 1, refused.problems
    assert f"SEKISHO_{variable.upper()} is a development key" in refused.problems[0]


def test_jpki_without_revocation_lists_is_refused(tmp_path: Path) -> None:
    values = {**production("kyc", tmp_path), "jpki_trust_anchors": root_ca().pem().decode()}
    refused = refusal("kyc", values)
    assert [problem.split(" ")[0] for problem in refused.problems] == ["SEKISHO_JPKI_CRLS"]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_defaults_are_all_named_at_once_not_only_the_first(service: str, tmp_path: Path) -> None:
    refused = refusal(service, {"env": "prod", "service": service, "data_dir": tmp_path})
    expected = {"SEKISHO_DATABASE_URL", "SEKISHO_IDENTITY_KEY", "SEKISHO_IDENTITY_PUBLIC_KEYS", "SEKISHO_DATA_KEYS"}
    expected |= {
        "gateway": {"SEKISHO_PUBLIC_ORIGINS"},
        "auth": {
            "SEKISHO_AUTH_SIGNING_KEY",
            "SEKISHO_BLIND_INDEX_KEY",
            "SEKISHO_AUDIT_CHAIN_KEY",
            "SEKISHO_WEBAUTHN_RP_ID",
            "SEKISHO_WEBAUTHN_ORIGINS",
        },
        "notify": {"SEKISHO_SMTP_HOST", "SEKISHO_SMS_URL", "SEKISHO_SMTP_FROM", "SEKISHO_SUPPORT_PHONE"},
    }.get(service, set())
    named = {problem.split(" ")[0] for problem in refused.problems}
    assert named == expected
    for variable in expected:
        assert variable in str(refused)


def test_a_one_off_command_needs_no_running_components_keys(tmp_path: Path) -> None:
    """`sekisho migrate` (no SEKISHO_SERVICE) holds the database URL and data keys, not a service's own keys."""
    values = {"env": "prod", "data_dir": tmp_path, "database_url": POSTGRES, "data_keys": new_key_spec("k1")}
    for service in SERVICE_NAMES:
        assert settings_class(service)(**values, **SERVICE_PRODUCTION.get(service, {})).production_problems() == []


def test_the_uvicorn_factory_refuses_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a Deployment runs (uvicorn --factory services.X.app:create_app) loads its settings from the
    environment: the same refusal, before the app exists and so before anything listens."""
    from services.gateway.app import create_app

    monkeypatch.setenv("SEKISHO_ENV", "prod")
    monkeypatch.setenv("SEKISHO_SERVICE", "gateway")
    monkeypatch.setenv("SEKISHO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEKISHO_DIAGNOSTICS", "true")
    with pytest.raises(ValidationError) as raised:
        create_app()
    for variable in ("SEKISHO_DATABASE_URL", "SEKISHO_IDENTITY_KEY", "SEKISHO_DATA_KEYS", "SEKISHO_DIAGNOSTICS"):
        assert variable in str(raised.value)


@pytest.mark.parametrize("env", ["dev", "test"])
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_dev_and_test_keep_their_defaults(env: str, service: str, tmp_path: Path) -> None:
    settings = settings_class(service)(env=env, data_dir=tmp_path, diagnostics=True, log_level="DEBUG")
    assert settings.env == env
    assert settings.database_url is None
    assert ServiceSettings(env=env).identity_key is None


# The whole system in production mode, on PostgreSQL (production refuses SQLite).


@pytest.fixture
async def prod_system(postgres_backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides: dict[str, dict[str, Any]] = {}
    for service in SERVICE_NAMES:
        own = {**SERVICE_PRODUCTION.get(service, {}), "env": "prod", "service": service}
        if service == "notify":  # the test's own SMTP and SMS stand-ins, on this machine
            own.update(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, sms_url=sms.url)
        if service == "auth":
            own.update(auth_signing_key=new_signing_key()[0], audit_chain_key=secrets.token_urlsafe(32))
        overrides[service] = own
    async with in_process_system(postgres_backend, overrides) as running:
        yield running


def has_route(app: FastAPI, path: str) -> bool:
    return any(getattr(route, "path", None) == path for route in app.routes)


@pytest.mark.postgres
async def test_a_complete_production_configuration_starts_and_answers(prod_system: System) -> None:
    for service, app in prod_system.apps.items():
        assert app.state.service.settings.env == "prod", service
        assert not has_route(app, "/docs"), service  # API docs off, internal services' too
        assert not has_route(app, "/v1/diagnostics/auth/trace")
    await open_account(prod_system.gateway)
    first = await login(prod_system.gateway)
    assert first.status_code == 401, first.text
    assert first.json()["code"] == "mfa_required"
    assert "server-timing" not in first.headers
    async with client_for(prod_system.apps["auth"]) as auth:
        assert (await auth.get("/healthz")).status_code == 200
        assert "server-timing" not in (await auth.get("/healthz")).headers
    assert (await prod_system.gateway.get("/docs")).status_code == 404


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_shipped_configmap_with_its_secrets_meets_production_but_for_what_it_says_to_replace(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """deploy/base/configmap.yaml and the Secrets deploy/README.md's step 2 makes: every component starts from them,
    but notify, whose support number the ConfigMap leaves as the placeholder to replace."""
    text = (Path(__file__).parents[2] / "deploy" / "base" / "configmap.yaml").read_text()
    # Its data are flat `  SEKISHO_X: "value"` lines (PyYAML is no dependency of ours).
    data = {
        name: value.strip()[1:-1]
        for name, value in re.findall(r"^  (SEKISHO_[A-Z_]+): (.+)$", text, flags=re.MULTILINE)
    }
    assert "SEKISHO_ENV" in data
    for name in list(os.environ):
        if name.startswith("SEKISHO_"):
            monkeypatch.delenv(name)
    environment = {
        **data,
        "SEKISHO_SERVICE": service,
        "SEKISHO_DATA_DIR": str(tmp_path),
        "SEKISHO_DATABASE_URL": POSTGRES,
        "SEKISHO_DATA_KEYS": new_key_spec("k1"),
        "SEKISHO_BLIND_INDEX_KEY": new_key_spec("bi1"),
        "SEKISHO_AUDIT_CHAIN_KEY": secrets.token_urlsafe(32),
        "SEKISHO_AUTH_SIGNING_KEY": new_signing_key()[0],
        "SEKISHO_IDENTITY_KEY": identity_keys()[service],
        "SEKISHO_IDENTITY_PUBLIC_KEYS": public_keys_json(identity_keys()),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if service != "notify":
        assert settings_class(service)().production_problems() == []
        return
    with pytest.raises(ValidationError) as raised:
        settings_class(service)()
    assert "SEKISHO_SUPPORT_PHONE" in str(raised.value)
    assert "1 to fix" in str(raised.value)
