"""What the auth service's routes work with, built once at start-up: the one composition root of auth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import models, totp
from services.auth.challenges import CodeLimits
from services.auth.hashing import PasswordHasher
from services.auth.lockout import LockRule
from services.auth.login import LoginDeps, has_confirmed_totp
from services.auth.passkeys import WebAuthnConfig
from services.auth.passwords import PasswordPolicy
from services.auth.sessions import TokenPolicy
from services.auth.settings import AuthSettings
from shared.clock import Clock
from shared.crypto import FieldCipher
from shared.database import Database
from shared.dependencies import runtime_dependency
from shared.outbox import Outbox
from shared.tokens import TokenSigner


@dataclass
class AuthRuntime:
    settings: AuthSettings
    database: Database
    cipher: FieldCipher
    clock: Clock
    outbox: Outbox
    hasher: PasswordHasher
    signer: TokenSigner

    @property
    def audit_key(self) -> bytes:
        """The key the audit trail is chained with (audit_chain.py)."""
        return self.settings.chain_key()

    @property
    def policy(self) -> PasswordPolicy:
        return PasswordPolicy(
            min_length=self.settings.password_min_length, min_classes=self.settings.password_min_classes
        )

    @property
    def code_limits(self) -> CodeLimits:
        s = self.settings
        return CodeLimits(
            s.code_ttl_seconds,
            s.code_max_attempts,
            s.code_max_sends,
            s.code_resend_seconds,
            s.code_max_sends_per_customer_hour,
        )

    @property
    def token_policy(self) -> TokenPolicy:
        return TokenPolicy(self.settings.access_token_ttl_seconds, self.settings.refresh_token_ttl_seconds)

    @property
    def staff_token_policy(self) -> TokenPolicy:
        """A short access token (at most 10 minutes: a stolen one dies soon), refreshed through the shift."""
        s = self.settings
        return TokenPolicy(
            min(s.access_token_ttl_seconds, 600),
            s.staff_shift_seconds,
            idle_timeout_seconds=s.staff_idle_timeout_seconds,
            max_session_seconds=s.staff_shift_seconds,
        )

    def login_deps(self) -> LoginDeps:
        s = self.settings
        return LoginDeps(
            database=self.database,
            hasher=self.hasher,
            cipher=self.cipher,
            clock=self.clock,
            outbox=self.outbox,
            lock_rule=LockRule(s.lock_after_failures, s.hard_lock_after_failures, s.lock_minutes),
            ip_limit=s.ip_failures_per_window,
            ip_window_seconds=s.ip_window_seconds,
            challenge_ttl_seconds=s.challenge_ttl_seconds,
            mfa_on_known_devices=False,
            unknown_retention=self.unknown_retention,
            unknown_max_tracked=s.unknown_login_max_tracked,
        )

    @property
    def unknown_retention(self) -> timedelta:
        return timedelta(hours=self.settings.unknown_login_retention_hours)

    @property
    def staff_lock_rule(self) -> LockRule:
        s = self.settings
        return LockRule(s.staff_lock_after_failures, s.staff_hard_lock_after_failures, s.lock_minutes)

    def webauthn(self) -> WebAuthnConfig:
        s = self.settings
        return WebAuthnConfig(
            rp_id=s.webauthn_rp_id,
            rp_name=s.webauthn_rp_name,
            origins=tuple(s.webauthn_origins),
            ceremony_ttl_seconds=s.webauthn_ceremony_ttl_seconds,
        )

    def caution(self, language: str) -> str:
        """AUTH-OTP-1: shown with every challenge."""
        return self.settings.caution_en if language == "en" else self.settings.caution_ja

    async def has_totp(self, session: AsyncSession, customer_id: str) -> bool:
        return await has_confirmed_totp(session, customer_id)

    async def verify_totp(self, session: AsyncSession, customer_id: str, code: str, *, now: datetime) -> bool:
        t = models.totp_factor
        row = (await session.execute(select(t).where(t.c.customer_id == customer_id).with_for_update())).first()
        if row is None or row.confirmed_at is None:
            return False
        secret = self.cipher.open(row.secret, context="totp_factor.secret")
        step = totp.verify_totp(secret, code, at=now.timestamp(), last_used_step=row.last_used_step)
        if step is None:
            return False
        await session.execute(t.update().where(t.c.customer_id == customer_id).values(last_used_step=step))
        return True


RuntimeDep = Annotated[AuthRuntime, Depends(runtime_dependency(AuthRuntime))]
