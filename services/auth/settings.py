"""Settings of the auth service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr, field_validator, model_validator

from shared.production import is_dev_key, is_loopback_host, not_https
from shared.settings import ServiceSettings
from shared.tokens import load_signing_keys, private_pem


class AuthSettings(ServiceSettings):
    # The Ed25519 keys of access tokens (PKCS#8 PEM blocks one after the other, `sekisho keygen --ed25519`): the
    # first signs, all are published (by RFC 7638 thumbprint as key id) so tokens of the others verify while a
    # rotation overlaps (README "Rotating the access-token key"). SEKISHO_AUTH_SIGNING_KEY, the older name, is the
    # same setting; set one of them. No default: `sekisho up` keeps a dev key under the data dir.
    auth_signing_keys: SecretStr | None = None
    auth_signing_key: SecretStr | None = None
    # The HMAC-SHA256 key of the audit trail's hash chain (SEC-6, audit_chain.py), any string of 32 characters or more.
    # Unset outside production: a fixed development key, the same for `sekisho up`, `migrate` and `audit verify`;
    # in production it must be set, and kept apart from the database (who can change rows must not hold the key).
    audit_chain_key: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=300)

    # Password policy (AUTH-PW-1/2).
    password_min_length: int = Field(default=10, ge=8, le=64)
    password_min_classes: int = Field(default=3, ge=1, le=4)

    # Lockout (AUTH-LOGIN-3): a temporary lock after N failures, its wait doubling each time; a hard lock after M.
    lock_after_failures: int = Field(default=5, ge=1)
    hard_lock_after_failures: int = Field(default=10, ge=2)
    lock_minutes: float = Field(default=15.0, gt=0)
    # Login ids that name no account are locked like accounts (no enumeration); their failures are forgotten this
    # long after the last one, and at most this many are tracked (the oldest forgotten first). Decoy applications
    # (an e-mail already registered) are kept as long.
    unknown_login_retention_hours: int = Field(default=720, ge=1)
    unknown_login_max_tracked: int = Field(default=100_000, ge=100)
    # Staff (passwords and TOTP codes counted apart): a temporary lock after N failures, then a hard lock after M
    # that only an admin lifts (POST /v1/ops/staff/{id}/unlock).
    staff_lock_after_failures: int = Field(default=3, ge=1)
    staff_hard_lock_after_failures: int = Field(default=5, ge=2)
    # Staff sessions last a working shift: a rotating refresh token keeps the short access token going, until this
    # long without a refresh or request (idle), and at most this long after the password and TOTP sign-in (the
    # shift); then a new sign-in is needed.
    staff_idle_timeout_seconds: int = Field(default=1800, ge=60, le=4 * 3600)
    staff_shift_seconds: int = Field(default=10 * 3600, ge=600, le=16 * 3600)
    # A staff member adds or removes a passkey only this soon after signing in with their second factor (TOTP or a
    # passkey): a session left open on a desk cannot enrol someone else's authenticator.
    staff_passkey_fresh_seconds: int = Field(default=300, ge=30, le=3600)
    # Per-network throttle: failures from one IP (or its /24) in the window before it is refused outright.
    ip_failures_per_window: int = Field(default=30, ge=1)
    ip_window_seconds: int = Field(default=600, ge=10)

    # Password reset (password_reset.py): requests per login id (per account, whatever form of it is typed) and per
    # client address in the window, counted alike whether the id names an account or not; the reset's codes count
    # towards code_max_sends_per_customer_hour as every other code does.
    password_reset_per_login_id: int = Field(default=5, ge=1)
    password_reset_per_ip: int = Field(default=20, ge=1)
    password_reset_window_seconds: int = Field(default=3600, ge=60)

    # Challenges and one-time codes (AUTH-OTP-1/2).
    challenge_ttl_seconds: int = Field(default=300, ge=60, le=1800)
    code_ttl_seconds: int = Field(default=60, ge=30, le=120)
    code_max_attempts: int = Field(default=5, ge=1, le=10)
    code_max_sends: int = Field(default=3, ge=1, le=10)
    code_resend_seconds: int = Field(default=30, ge=0)
    code_max_sends_per_customer_hour: int = Field(default=10, ge=1, le=100)
    notify_every_login: bool = False

    # Passkeys (WebAuthn): the relying party's id (a registrable domain: passkeys made for it work on it and its
    # subdomains), the name authenticators show, and the exact origins (scheme, host, port) whose pages may use
    # them; an assertion made on any other page (a phishing site) is refused. Defaults fit `make run` on localhost.
    webauthn_rp_id: str = Field(default="localhost", min_length=1, max_length=253)
    webauthn_rp_name: str = Field(default="sekisho", min_length=1, max_length=64)
    webauthn_origins: list[str] = Field(default=["http://localhost:8000"], min_length=1)
    # How long the challenge of one registration or passkey login stands (used once in any case).
    webauthn_ceremony_ttl_seconds: int = Field(default=180, ge=30, le=600)
    company_name: str = "sekisho"  # the issuer shown in authenticator apps
    caution_ja: str = "当社が電話・メール・SMSでID、パスワード、確認コードをお尋ねすることはありません。"
    caution_en: str = "We never ask for your ID, password or verification code by phone, email or SMS."

    @field_validator("auth_signing_keys", "auth_signing_key")
    @classmethod
    def _signing_keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            load_signing_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _one_signing_key_setting(self) -> AuthSettings:
        if self.auth_signing_keys is not None and self.auth_signing_key is not None:
            raise ValueError("set SEKISHO_AUTH_SIGNING_KEYS or SEKISHO_AUTH_SIGNING_KEY (the older name), not both")
        return self

    @property
    def signing_keys_setting(self) -> SecretStr | None:
        return self.auth_signing_keys if self.auth_signing_keys is not None else self.auth_signing_key

    def token_signing_keys(self) -> list[Ed25519PrivateKey]:
        """The access-token keys, the one that signs first; RuntimeError when neither setting is set."""
        setting = self.signing_keys_setting
        if setting is None:
            raise RuntimeError(
                "SEKISHO_AUTH_SIGNING_KEYS is not set: access tokens are signed with an Ed25519 key (PEM, "
                "`sekisho keygen --ed25519`). `sekisho up` keeps a dev key under the data dir; a deployment sets its "
                "own."
            )
        return load_signing_keys(setting.get_secret_value())

    @field_validator("audit_chain_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("SEKISHO_AUDIT_CHAIN_KEY must be at least 32 characters")
        return value

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        running = self.service == "auth"
        signing_keys = self.signing_keys_setting
        if signing_keys is None:
            if running:
                problems.append(
                    "SEKISHO_AUTH_SIGNING_KEY is not set (or SEKISHO_AUTH_SIGNING_KEYS): the Ed25519 key (PEM) that "
                    "signs access tokens (`sekisho keygen --ed25519`); production never generates one"
                )
        elif any(
            is_dev_key(private_pem(key), self.data_dir) for key in load_signing_keys(signing_keys.get_secret_value())
        ):
            name = "SEKISHO_AUTH_SIGNING_KEYS" if self.auth_signing_keys is not None else "SEKISHO_AUTH_SIGNING_KEY"
            problems.append(f"{name} is a development key `sekisho up` generated under {self.data_dir} (or lists one)")
        if running and self.blind_index_key is None:
            problems.append(
                "SEKISHO_BLIND_INDEX_KEY is not set: the key of the blind indexes customers are found by "
                "(`sekisho keygen --kid bi1`)"
            )
        if self.audit_chain_key is None:
            if running:
                problems.append(
                    "SEKISHO_AUDIT_CHAIN_KEY is not set: the audit trail's hash chain would use the development key "
                    "(32 characters or more, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
        elif self.audit_chain_key.get_secret_value() == DEV_AUDIT_CHAIN_KEY:
            problems.append("SEKISHO_AUDIT_CHAIN_KEY is the development key, which is in the source code")
        if is_loopback_host(self.webauthn_rp_id):
            problems.append(
                f"SEKISHO_WEBAUTHN_RP_ID is {self.webauthn_rp_id!r}: passkeys would be bound to this machine; set the "
                "registrable domain customers use (e.g. example.jp)"
            )
        if insecure := not_https(self.webauthn_origins):
            problems.append(
                f"SEKISHO_WEBAUTHN_ORIGINS lists {', '.join(insecure)}: passkeys are used only from https pages "
                "of the public site"
            )
        return problems

    def chain_key(self) -> bytes:
        """The audit chain's key: the one set, or outside production the development key."""
        if self.audit_chain_key is not None:
            return self.audit_chain_key.get_secret_value().encode()
        if self.env == "prod":
            raise RuntimeError(
                "SEKISHO_AUDIT_CHAIN_KEY is not set: the audit trail is hash-chained with a key of its own "
                "(32 characters or more, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
            )
        return DEV_AUDIT_CHAIN_KEY.encode()


# Development and tests only (chain_key refuses to use it in production): a trail chained with it proves nothing.
DEV_AUDIT_CHAIN_KEY = "sekisho-development-audit-chain-key-not-secret"
