"""The auth service's domain errors, each with its stable code (API.md)."""

from __future__ import annotations

from shared.problems import Problem


class PasswordPolicyViolated(Problem):
    status = 422
    code = "password_policy"


class LoginFailed(Problem):
    """One answer for an unknown login id and a wrong password: nothing tells them apart (API.md)."""

    status = 401
    code = "invalid_credentials"


class AccountLocked(Problem):
    status = 423
    code = "account_locked"


class TooManyAttempts(Problem):
    status = 429
    code = "too_many_attempts"


class ChallengeNotFound(Problem):
    status = 404
    code = "challenge_not_found"


class ChallengeFailed(Problem):
    status = 401
    code = "challenge_failed"


class ChallengeDead(Problem):
    status = 410
    code = "challenge_expired"


class MethodNotAllowed(Problem):
    status = 422
    code = "method_not_allowed"


class TokenInvalid(Problem):
    status = 401
    code = "token_invalid"


class PasskeyInvalid(Problem):
    """An attestation or assertion that does not verify: another origin or relying party, a stale challenge, no user
    verification, a bad signature, an unknown passkey, a counter that went backwards. One answer for all of them."""

    status = 401
    code = "passkey_invalid"


class PasskeyNotFound(Problem):
    status = 404
    code = "passkey_not_found"


class PasskeyExists(Problem):
    status = 409
    code = "passkey_exists"


class CeremonyNotFound(Problem):
    status = 404
    code = "ceremony_not_found"


class CeremonyExpired(Problem):
    status = 410
    code = "ceremony_expired"


class SessionExpired(Problem):
    """A staff session past its idle timeout or its shift (`reason`), or whose staff member may no longer sign in:
    a new password and TOTP sign-in is needed."""

    status = 401
    code = "session_expired"


class ResetNotFound(Problem):
    status = 404
    code = "reset_not_found"


class ResetExpired(Problem):
    """Used already, or past its time: a reset works once."""

    status = 410
    code = "reset_expired"


class PasswordInvalidated(Problem):
    """Staff invalidated the password in an incident (INC-1): the right password no longer signs in; a reset does."""

    status = 403
    code = "password_reset_required"


class ResetNotVerified(Problem):
    """The e-mail code and the possession factor must both be proven before a new password is taken."""

    status = 409
    code = "reset_not_verified"
