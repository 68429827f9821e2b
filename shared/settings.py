"""Settings common to every service, read from the environment (prefix SEKISHO_) and nowhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.crypto import parse_index_key, parse_keys
from shared.identity_keys import PublicKeys, check_own_key, load_identity_key, load_public_keys

SERVICE_NAMES: tuple[str, ...] = ("gateway", "auth", "kyc", "txn", "fraud", "notify")

DEFAULT_PORTS: dict[str, int] = {
    "gateway": 8000,
    "auth": 8001,
    "kyc": 8002,
    "txn": 8003,
    "fraud": 8004,
    "notify": 8005,
}


class ServiceSettings(BaseSettings):
    """What every service reads. Each service subclasses this with its own fields."""

    model_config = SettingsConfigDict(env_prefix="SEKISHO_", extra="ignore", frozen=True)

    env: Literal["dev", "test", "prod"] = "dev"
    host: str = "127.0.0.1"

    # Unset: one SQLite file per service under data_dir. Set (postgresql+asyncpg://…): one schema per service.
    database_url: str | None = None
    database_schema_prefix: str = ""
    data_dir: Path = Path("var")
    database_pool_size: int = Field(default=10, ge=1, le=200)

    # This service's own Ed25519 key (PEM) that signs the short-lived identity every call it makes carries (SEC-1),
    # and every service's public keys, {service: [PEM, …]} (the first in use, the others still accepted during a
    # rotation). No default: `sekisho up` keeps dev keys under the data dir; a deployment gives each service its own.
    identity_key: SecretStr | None = None
    identity_public_keys: dict[str, list[str]] | None = None
    # AES-256-GCM keys for personal data at rest (DATA-2), `kid:base64key,…`; the first encrypts.
    # No default either: `sekisho up` keeps a generated dev key under the data dir.
    data_keys: SecretStr | None = None
    # The key of the blind indexes personal data is looked up by (auth: e-mail, phone), `name:base64key`: its own,
    # so that a rotation of the data keys never changes an index. `sekisho up` keeps a dev key under the data dir.
    blind_index_key: SecretStr | None = None

    internal_token_ttl_seconds: int = Field(default=60, ge=5, le=600)

    gateway_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['gateway']}"
    auth_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['auth']}"
    kyc_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['kyc']}"
    txn_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['txn']}"
    fraud_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['fraud']}"
    notify_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['notify']}"

    internal_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    internal_retries: int = Field(default=2, ge=0, le=10)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True  # tests turn it off to keep pytest's own log capture

    @field_validator("data_keys")
    @classmethod
    def _parseable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @field_validator("blind_index_key")
    @classmethod
    def _one_index_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_index_key(value.get_secret_value())
        return value

    @field_validator("identity_key")
    @classmethod
    def _a_private_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            load_identity_key(value.get_secret_value())
        return value

    @field_validator("identity_public_keys")
    @classmethod
    def _public_keys(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is not None:
            load_public_keys(value, SERVICE_NAMES)
        return value

    def service_url(self, service: str) -> str:
        if service not in SERVICE_NAMES:
            raise ValueError(f"unknown service {service!r}")
        url: str = getattr(self, f"{service}_url")
        return url.rstrip("/")

    def require_data_keys(self) -> dict[str, bytes]:
        if self.data_keys is None:
            raise RuntimeError(
                "SEKISHO_DATA_KEYS is not set: personal data is encrypted at rest. `sekisho up` keeps a dev key "
                "under the data dir; a deployment sets its own (`sekisho keygen`)."
            )
        return parse_keys(self.data_keys.get_secret_value())

    def index_key(self) -> bytes | None:
        """The blind-index key, when one is set."""
        return None if self.blind_index_key is None else parse_index_key(self.blind_index_key.get_secret_value())[1]

    def require_index_key(self) -> bytes:
        key = self.index_key()
        if key is None:
            raise RuntimeError(
                "SEKISHO_BLIND_INDEX_KEY is not set: e-mail addresses and phone numbers are looked up by a keyed "
                "blind index. `sekisho up` keeps a dev key under the data dir; a new deployment sets its own "
                "(`sekisho keygen --kid bi1`); a database made before this setting existed keeps its indexes with "
                '`sekisho keygen --legacy-blind-index KID` (README, "Blind indexes").'
            )
        return key

    def require_identity_keys(self, service: str) -> tuple[Ed25519PrivateKey, PublicKeys]:
        """`service`'s own identity key and every service's public keys; the public keys must list its own."""
        if self.identity_key is None or self.identity_public_keys is None:
            raise RuntimeError(
                "SEKISHO_IDENTITY_KEY and SEKISHO_IDENTITY_PUBLIC_KEYS must be set: every internal call is signed "
                "with the calling service's own Ed25519 key. `sekisho up` keeps dev keys under the data dir; a "
                "deployment gives each service its own key (`sekisho keygen --identity`)."
            )
        key = load_identity_key(self.identity_key.get_secret_value())
        public_keys = load_public_keys(self.identity_public_keys, SERVICE_NAMES)
        check_own_key(service, key, public_keys)
        return key, public_keys
