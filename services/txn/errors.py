"""The txn service's domain errors, each with its stable `code` and status.

NotFound                 404  no such thing, or another customer's (never told apart)
CreditLineMissing        409  the customer has no credit line (staff set one first)
InsufficientCredit       409  the amount is more than the line has available (limit - outstanding - holds)
LimitExceeded            409  over a per-operation, per-day or per-month limit (`limit` names which)
KycNotVerified           403  `kyc_required`: the customer's identity is not verified now (KYC-2)
RequestIdReused          422  the same request_id / Idempotency-Key with another payload
RequestInProgress        409  the same request_id / Idempotency-Key while its first request is still running
QrInvalid                422  the QR is not one of an ATM session (or not the one the session showed)
SessionExpired           409  the ATM session's QR is no longer valid: the ATM shows a new one
SessionUsed              409  the ATM session already has its withdrawal (one per session)
AuthorizationSettled     409  complete or reverse of an authorization that ended otherwise (`code` says how:
                              authorization_reversed, authorization_expired, authorization_completed)
"""

from __future__ import annotations

from shared.problems import Problem


class NotFound(Problem):
    status = 404
    code = "not_found"


class CreditLineMissing(Problem):
    status = 409
    code = "no_credit_line"


class InsufficientCredit(Problem):
    status = 409
    code = "insufficient_credit"


class LimitExceeded(Problem):
    status = 409
    code = "limit_exceeded"


class KycNotVerified(Problem):
    status = 403
    code = "kyc_required"


class RequestIdReused(Problem):
    status = 422
    code = "idempotency_key_reused"


class RequestInProgress(Problem):
    status = 409
    code = "request_in_progress"


class QrInvalid(Problem):
    status = 422
    code = "qr_invalid"


class SessionExpired(Problem):
    status = 409
    code = "session_expired"


class SessionUsed(Problem):
    status = 409
    code = "session_used"


class AuthorizationSettled(Problem):
    status = 409
    code = "authorization_settled"
