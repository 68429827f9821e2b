"""The kyc service's domain errors, each with its stable `code` and status.

VerificationInProgress  409  the customer already has an open case
VerificationNotFound    404  no such case, or another customer's (never told apart)
MethodNotAvailable      422  a method this deployment does not offer (yet)
InvalidImages           422  an eKYC image is not what it claims (violations name each image)
PostalAddressIncomplete 422  the declared address has no postal code to mail the letter to
NotAwaitingCode         409  the case does not wait for a postal code
CodeInvalid             422  a wrong postal code (attempts_left says how many remain)
CodeExpired             410  the postal code's validity has passed (the case is rejected)
NotInReview             409  staff decide only cases in manual review
NotAwaitingSignature    409  the case does not wait for a JPKI signature
AlreadyVerified         409  the customer's identity is verified and unchanged since (KYC-3)
"""

from __future__ import annotations

from shared.problems import Problem


class VerificationInProgress(Problem):
    status = 409
    code = "verification_in_progress"


class VerificationNotFound(Problem):
    status = 404
    code = "not_found"


class MethodNotAvailable(Problem):
    status = 422
    code = "method_not_available"


class InvalidImages(Problem):
    status = 422
    code = "invalid_images"


class PostalAddressIncomplete(Problem):
    status = 422
    code = "postal_address_incomplete"


class NotAwaitingCode(Problem):
    status = 409
    code = "not_awaiting_code"


class CodeInvalid(Problem):
    status = 422
    code = "code_invalid"


class CodeExpired(Problem):
    status = 410
    code = "code_expired"


class NotInReview(Problem):
    status = 409
    code = "verification_not_in_review"


class NotAwaitingSignature(Problem):
    status = 409
    code = "not_awaiting_signature"


class AlreadyVerified(Problem):
    status = 409
    code = "already_verified"
