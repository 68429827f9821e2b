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
PossessionRequired       403  a bank link without a possession step-up (other than an e-mail code) for it (LINK-1)
AlreadyLinked            409  the customer has this account linked already
CustomerDataInNotice     422  a notice for the public names a customer id, an e-mail address or a phone number
Refused                       a refusal whose trace stays: the route commits what the domain recorded with it (fraud's
                              event) and answers the problem; raised before anything else is written
  BankAccountNotFound    422  the bank has no such open account
  HolderMismatch         422  the account's holder is not the verified customer, or not whom the customer named (KYC-4)
  BankSuspended          409  staff suspended links and charges of this bank (LINK-4)
  LinkSuspended          409  the link is suspended (pending re-verification, INC-9) or was replaced by a new link
  ChargeCapExceeded      409  more than one charge may bring in (LINK-3)
  LinkCoolingOff         409  the link is new: until its cool-off ends it brings in only a small amount (LINK-3)
  MonthlyCapExceeded     409  the charges of this JST month, all links together, would pass the monthly cap (LINK-3)
  FraudDeclined          409  fraud's score before the money moved was review or deny
  InsufficientFunds      409  the bank refused the debit for want of funds
  BankAccountClosed      409  the bank refused the debit: the account is closed
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


class PossessionRequired(Problem):
    status = 403
    code = "possession_required"


class AlreadyLinked(Problem):
    status = 409
    code = "already_linked"


class CustomerDataInNotice(Problem):
    status = 422
    code = "customer_data_in_notice"


class Refused(Problem):
    """A refusal fraud hears of: what the domain recorded about it in the request's transaction is committed with
    the answer (the routes catch it). Raised only before anything else is written."""


class BankAccountNotFound(Refused):
    status = 422
    code = "bank_account_not_found"


class HolderMismatch(Refused):
    status = 422
    code = "holder_mismatch"


class BankSuspended(Refused):
    status = 409
    code = "bank_suspended"


class LinkSuspended(Refused):
    status = 409
    code = "link_suspended"


class ChargeCapExceeded(Refused):
    status = 409
    code = "charge_cap_exceeded"


class LinkCoolingOff(Refused):
    status = 409
    code = "link_cooling_off"


class MonthlyCapExceeded(Refused):
    status = 409
    code = "monthly_cap_exceeded"


class FraudDeclined(Refused):
    status = 409
    code = "fraud_declined"


class InsufficientFunds(Refused):
    status = 409
    code = "insufficient_funds"


class BankAccountClosed(Refused):
    status = 409
    code = "bank_account_closed"
