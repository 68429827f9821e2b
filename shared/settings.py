"""Settings common to every service, read from the environment (prefix SEKISHO_) and nowhere else."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.crypto import parse_index_key, parse_keys
from shared.identity_keys import PublicKeys, check_own_key, load_identity_key, load_public_keys
from shared.production import ProductionRefused, is_dev_key

SERVICE_NAMES: tuple[str, ...] = ("gateway", "auth", "kyc", "txn", "fraud", "notify")

DEFAULT_PORTS: dict[str, int] = {
    "gateway": 8000,
    "auth": 8001,
    "kyc": 8002,
    "txn": 8003,
    "fraud": 8004,
    "notify": 8005,
}


class _Mode(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEKISHO_", extra="ignore")
    env: str = "dev"


def production_mode() -> bool:
    """SEKISHO_ENV=prod, read before (and without) the checks loading any service's settings runs."""
    return _Mode().env.strip().lower() == "prod"


class ServiceSettings(BaseSettings):
    """What every service reads. Each service subclasses this with its own fields."""

    # hide_input_in_errors: a key that does not parse must not be printed in the error that says so.
    model_config = SettingsConfigDict(env_prefix="SEKISHO_", extra="ignore", frozen=True, hide_input_in_errors=True)

    # prod: development defaults are refused at load (production_problems, shared/production.py).
    env: Literal["dev", "test", "prod"] = "dev"
    # SEKISHO_SERVICE: the component this process runs (set by `sekisho up` and each Deployment); unset for the
    # one-off commands. In production, the keys a running component needs must be set.
    service: Literal["gateway", "auth", "kyc", "txn", "fraud", "notify"] | None = None
    host: str = "127.0.0.1"
    # SEKISHO_PORT: the port `sekisho up SERVICE` (one service, in the foreground: a pod) listens on; unset, the port
    # of that service's own URL (SEKISHO_AUTH_URL, …). A pod sets 8000: its URL is the Service's, on port 80.
    port: int | None = Field(default=None, ge=1, le=65535)

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
    # Where the JSON lines go: stderr by default; `sekisho up SERVICE` (a pod's one process) makes it stdout.
    log_stream: Literal["stdout", "stderr"] = "stderr"
    # A comma-separated list of CIDRs (SEKISHO_METRICS_NETWORKS): who may scrape /metrics (README "Metrics"); any
    # other caller gets 404. At the gateway the address is the client's as X-Forwarded-For from a trusted proxy says.
    metrics_networks: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = (
        IPv4Network("127.0.0.0/8"),
        IPv6Network("::1/128"),
    )

    # OpenTelemetry traces (shared/tracing.py, README "Traces"): off unless the OTLP/HTTP collector's base URL is set
    # (http://collector:4318; spans go to /v1/traces), by the standard variable or SEKISHO_OTLP_ENDPOINT.
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("otlp_endpoint", "SEKISHO_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )

    @field_validator("metrics_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("otlp_endpoint")
    @classmethod
    def _collector_url(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None  # set but empty: off, as the OpenTelemetry SDKs read it
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("the OTLP endpoint is the collector's http(s):// base URL, e.g. http://collector:4318")
        return value

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

    @model_validator(mode="after")
    def _production_ready(self) -> Self:
        if self.env == "prod":
            problems = self.production_problems()
            if problems:
                raise ProductionRefused(problems)
        return self

    def production_problems(self) -> list[str]:
        """What production refuses in these settings (each service's class adds its own after these)."""
        problems: list[str] = []
        if not self.database_url:
            problems.append(
                "SEKISHO_DATABASE_URL is not set: embedded SQLite is for development; set a PostgreSQL URL "
                "(postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB)"
            )
        elif not self.database_url.lower().startswith("postgresql"):
            problems.append("SEKISHO_DATABASE_URL is not a PostgreSQL URL (postgresql+asyncpg://…)")
        if self.log_level == "DEBUG":
            problems.append(
                "SEKISHO_LOG_LEVEL=DEBUG: debug logging is for development (libraries log request details at DEBUG)"
            )
        running = self.service is not None
        keys: list[tuple[str, SecretStr | None]] = [
            ("SEKISHO_IDENTITY_KEY", self.identity_key),
            ("SEKISHO_DATA_KEYS", self.data_keys),
            ("SEKISHO_BLIND_INDEX_KEY", self.blind_index_key),
        ]
        for variable, value in keys:
            if value is not None and is_dev_key(value.get_secret_value(), self.data_dir):
                problems.append(f"{variable} is a development key `sekisho up` generated under {self.data_dir}")
        if running and self.identity_key is None:
            problems.append(
                f"SEKISHO_IDENTITY_KEY is not set: {self.service}'s own Ed25519 identity key "
                "(`sekisho keygen --identity DIR`); production never generates one"
            )
        if running and self.identity_public_keys is None:
            problems.append(
                "SEKISHO_IDENTITY_PUBLIC_KEYS is not set: every service's public identity keys "
                "(printed by `sekisho keygen --identity DIR`)"
            )
        if running and self.data_keys is None:
            problems.append(
                "SEKISHO_DATA_KEYS is not set: the keys of personal data at rest (`sekisho keygen --kid k1`); "
                "production never generates one"
            )
        return problems

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
