"""TOTP (RFC 6238) from an authenticator app: a possession factor whose codes can each be used only once.

Authenticator apps only speak the RFC's defaults (30 s step, 6 digits, HMAC-SHA1), so those are fixed.
A code is accepted for the current step and the one either side of it, to forgive a phone clock a little
adrift; a code thus stays usable at most 60 s after the app first shows it (AUTH-OTP-2: roughly 30 s to
1 min). Replay is refused by step number: the caller stores the step a code matched and passes it back,
and no code from that step or an earlier one is accepted again.
"""

from __future__ import annotations

import base64
import hmac
import secrets

import pyotp

STEP_SECONDS = 30
DIGITS = 6
# Steps either side of the current one that are still accepted (RFC 6238 §5.2 network delay).
DRIFT_STEPS = 1
_SECRET_BYTES = 20  # 160 bits, the key length RFC 4226 §4 recommends for HMAC-SHA1


def new_secret() -> str:
    """A fresh 160-bit shared secret in unpadded base32, the form otpauth:// URIs and apps expect."""
    return base64.b32encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii").rstrip("=")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code at enrolment."""
    return str(_totp(secret).provisioning_uri(name=account_name, issuer_name=issuer))


def step_at(at: float) -> int:
    if at < 0:
        raise ValueError("a TOTP time must not be before the Unix epoch")
    return int(at // STEP_SECONDS)


def code_for_step(secret: str, step: int) -> str:
    return str(_totp(secret).generate_otp(step))


def current_code(secret: str, at: float) -> str:
    """The code an app shows at `at` (for tests and for enrolment demos)."""
    return code_for_step(secret, step_at(at))


def is_well_formed(code: str) -> bool:
    # str.isdigit() also accepts non-ASCII digits such as "１２３４５６" and "²"; only ASCII 0-9 is a code.
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def verify_totp(secret: str, code: str, *, at: float, last_used_step: int | None) -> int | None:
    """The time step `code` belongs to, if it is valid at `at` and newer than `last_used_step`; else None.

    The caller must store the returned step as the new `last_used_step` in the same transaction that
    accepts the login, so that the same code, or any code from an earlier step, is refused next time.
    """
    if not is_well_formed(code):
        return None
    current = step_at(at)
    # Every candidate is compared, so the time taken does not tell which step matched.
    matched = [
        step
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1)
        if hmac.compare_digest(code_for_step(secret, step).encode("ascii"), code.encode("ascii"))
    ]
    # Two steps can share a code by chance (1 in 10^6); the oldest step not yet used is the one recorded.
    fresh = [step for step in matched if last_used_step is None or step > last_used_step]
    return min(fresh) if fresh else None
