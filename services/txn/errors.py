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
AlreadyDisputed          409  a transaction named is in another dispute that is open or relieved (`dispute_id`)
NotDisputable            422  a transaction of a kind the relief policy does not cover (a relief, a repayment)
IllegalTransition        409  the dispute's status does not allow this step (it was decided, or is being decided)
DeclarationRequired      409  relief before the victim declared they will not bear the debt (INC-7)
AlreadyDeclared          409  the victim's declaration is already recorded on this dispute
NotRelievable            409  the ledger does not show what the policy relieves for this transaction (no draw on the
                              customer's line, no bank debited): staff must look at it
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


class AlreadyDisputed(Problem):
    status = 409
    code = "already_disputed"


class NotDisputable(Problem):
    status = 422
    code = "not_disputable"


class IllegalTransition(Problem):
    status = 409
    code = "illegal_transition"


class DeclarationRequired(Problem):
    status = 409
    code = "declaration_required"


class AlreadyDeclared(Problem):
    status = 409
    code = "already_declared"


class NotRelievable(Problem):
    status = 409
    code = "not_relievable"
