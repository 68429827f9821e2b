"""kyc's routes for other services (never forwarded by the gateway): txn asks whether a bank account's holder is the
customer kyc verified before it links the account (KYC-4; shared/contracts/identity.py)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from services.kyc import holder_match, verifications
from services.kyc.dependencies import RuntimeDep
from shared.contracts.identity import IdentityMatch, IdentityMatchRequest
from shared.dependencies import SessionDep, only_from
from shared.events import record_event

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post("/identity-matches", dependencies=[only_from("txn")])
async def identity_match(body: IdentityMatchRequest, session: SessionDep, runtime: RuntimeDep) -> IdentityMatch:
    """Compare the bank's holder (kana, and birth date where the bank gives one) with the customer's latest approved
    identity. The answer says only whether they agree and in what: the verified identity itself stays in kyc. Every
    call is a fraud event in the same transaction (a run of mismatches is how someone linking another person's
    account shows), with no names in it."""
    row = await verifications.latest_verified_identity(session, body.customer_id)
    if row is None:
        answer = IdentityMatch(customer_id=body.customer_id, matched=False, verified=False, mismatches=[])
    else:
        found = holder_match.mismatches(
            verified_kana=runtime.cipher.open(row.name_kana, context="verified_identity.name_kana"),
            verified_birth_date=date.fromisoformat(
                runtime.cipher.open(row.birth_date, context="verified_identity.birth_date")
            ),
            holder_kana=body.holder_kana,
            holder_birth_date=body.holder_birth_date,
        )
        answer = IdentityMatch(
            customer_id=body.customer_id,
            matched=not found,
            verified=True,
            mismatches=found,
            verification_id=row.verification_id,
            method=row.method,
        )
    await record_event(
        runtime.outbox,
        session,
        type="kyc_identity_match",
        occurred_at=runtime.clock.now(),
        customer_id=body.customer_id,
        outcome="matched" if answer.matched else ("mismatch" if answer.verified else "unverified"),
        data={
            "matched": answer.matched,
            "verified": answer.verified,
            "mismatches": list(answer.mismatches),
            "birth_date_given": body.holder_birth_date is not None,
            "verification_id": answer.verification_id,
        },
    )
    return answer
