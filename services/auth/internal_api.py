"""Routes for other services: auth's public keys, step-up challenges and grant redemption (the gateway), and the
staff audit trail (every service)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from sqlalchemy import bindparam, select
from starlette.responses import JSONResponse

from services.auth import accounts, audit, challenges, kyc_status, models, passkeys, recovery_codes, staff, step_up
from services.auth.runtime import RuntimeDep
from shared import batches
from shared.batches import BatchIn, BatchOut
from shared.contracts.audit import AuditEntryIn
from shared.contracts.identity import CustomerContacts, DeclaredIdentity, KycStatus, KycStatusUpdate
from shared.contracts.sessions import PublicKeys, SessionState
from shared.contracts.step_up import Redeemed, RedeemRequest, StepUpChallenge, StepUpChallengeRequest
from shared.dependencies import IdentityDep, SessionDep, only_from
from shared.problems import Problem
from shared.statements import Prepared

router = APIRouter(prefix="/internal", tags=["internal"])
# The services with staff routes of their own, which send auth their audit entries (auth stores its own directly).
AUDIT_SENDERS = ("gateway", "kyc", "txn", "fraud", "notify")


def _from_gateway(identity: Any) -> None:
    if identity.caller != "gateway":
        raise Problem("Only the gateway may ask for step-up.", code="forbidden", status=403)


@router.get("/keys", dependencies=[only_from("gateway")])
async def public_keys(runtime: RuntimeDep) -> PublicKeys:
    """The public keys that verify access tokens, by key id: the signing key first, then a rotation's overlap."""
    return PublicKeys(keys=runtime.signer.published_keys)


@router.get("/sessions/{session_id}", dependencies=[only_from("gateway")])
async def session_state(session_id: str, session: SessionDep, runtime: RuntimeDep) -> SessionState:
    """Whether a session still stands (the gateway asks, and believes the answer for a few seconds), when its
    customer's e-mail or phone last changed or the password was last reset, the later of the two (Unix seconds; the
    gateway's policy makes money wait a cool-off), and the customer's KYC status (KYC-2: the gateway asks afresh for
    the operations that require verification). A staff session's check is a request: it keeps the session from its
    idle timeout, and ends it past that, past the shift, or once its staff member is disabled or locked
    (staff.staff_session_stands)."""
    s, c = models.auth_session, models.customer
    row = (
        await session.execute(
            select(
                s.c.id,
                s.c.customer_id,
                s.c.created_at,
                s.c.last_active_at,
                s.c.revoked_at,
                s.c.subject_type,
                c.c.contact_changed_at,
                c.c.password_reset_at,
                c.c.kyc_status,
            )
            .select_from(s.outerjoin(c, (c.c.id == s.c.customer_id) & (s.c.subject_type == "customer")))
            .where(s.c.id == session_id)
        )
    ).first()
    active = row is not None and row.revoked_at is None
    if active and row is not None and row.subject_type == "staff":
        active = await staff.staff_session_stands(session, row, now=runtime.clock.now(), runtime=runtime)
    # A password reset counts as a contact change: whoever reset it may hold the inbox and the phone (SIM swap), and
    # money waits the same cool-off (or a TOTP step-up) after either. The later of the two is reported.
    changed = max(filter(None, (row.contact_changed_at, row.password_reset_at)), default=None) if row else None
    return SessionState(
        active=active,
        subject_type=row.subject_type if row else None,
        contact_changed_at=int(changed.timestamp()) if changed is not None else None,
        kyc_status=row.kyc_status if row is not None else None,  # None for staff
    )


@router.post("/step-up/challenges", status_code=201)
async def create_step_up_challenge(
    body: StepUpChallengeRequest, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> StepUpChallenge:
    _from_gateway(identity)
    methods = [m for m in body.methods if m in (*challenges.POSSESSION_METHODS, "passkey")]
    if "totp" in methods and not await runtime.has_totp(session, body.customer_id):
        methods.remove("totp")
    own_passkeys = await passkeys.passkeys_of(session, body.customer_id) if "passkey" in methods else []
    if "passkey" in methods and not own_passkeys:
        methods.remove("passkey")
    if "recovery_code" in methods and not await recovery_codes.remaining(session, body.customer_id):
        methods.remove("recovery_code")
    if not methods:
        raise Problem("No method can answer this challenge.", code="no_method", status=422)
    challenge_id = await challenges.create_challenge(
        session,
        customer_id=body.customer_id,
        purpose="step_up",
        operation=body.operation,
        fields_digest=body.fields_digest,
        summary={"operation": body.operation, **body.summary},
        methods=methods,
        pending=None,
        now=runtime.clock.now(),
        ttl_seconds=runtime.settings.challenge_ttl_seconds,
    )
    ceremony = None
    if own_passkeys:
        ceremony = await passkeys.start_authentication(
            session,
            purpose="step_up",
            allowed=own_passkeys,
            customer_id=body.customer_id,
            challenge_id=challenge_id,
            now=runtime.clock.now(),
            config=runtime.webauthn(),
        )
    return StepUpChallenge(
        id=challenge_id,
        methods=methods,
        caution=runtime.caution("ja"),
        expires_in=runtime.settings.challenge_ttl_seconds,
        operation=body.operation,
        passkey=ceremony.options if ceremony is not None else None,
    )


@router.post("/step-up/redeem")
async def redeem(body: RedeemRequest, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep) -> Redeemed:
    _from_gateway(identity)
    factor = await step_up.redeem_grant(
        session,
        grant=body.grant,
        customer_id=body.customer_id,
        operation=body.operation,
        fields_digest=body.fields_digest,
        now=runtime.clock.now(),
    )
    return Redeemed(factor=factor.to_claim())


def _from_its_service(entry: AuditEntryIn, identity: Any) -> str | None:
    # A service records its own staff's actions only: the entry must name the service that sends it.
    return None if entry.service == identity.caller else "the entry's service must be the calling service"


@router.post(
    "/audit",
    status_code=201,
    dependencies=[only_from(*AUDIT_SENDERS)],
    responses={200: {"description": "already stored (redelivery)"}},
)
async def receive_audit_entry(
    body: AuditEntryIn, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> JSONResponse:
    """One staff action or read of customer data from another service (SEC-6, shared/audit.py)."""
    wrong = _from_its_service(body, identity)
    if wrong is not None:
        raise Problem(wrong, code="validation_failed", status=422)
    created = await audit.store(session, [body], now=runtime.clock.now(), key=runtime.audit_key)
    stored = body.entry_id in created
    return JSONResponse({"entry_id": body.entry_id, "stored": stored}, status_code=201 if stored else 200)


@router.post("/audit/batch", dependencies=[only_from(*AUDIT_SENDERS)])
async def receive_audit_entries(
    body: BatchIn, session: SessionDep, runtime: RuntimeDep, identity: IdentityDep
) -> BatchOut:
    """Many entries in one request (shared/batches.py): each is judged alone, as the single route would."""
    entries, refused = batches.accept(body, AuditEntryIn, lambda entry: entry.entry_id)
    for entry in entries:
        wrong = _from_its_service(entry, identity)
        if wrong is not None:
            refused[entry.entry_id] = wrong
    entries = [entry for entry in entries if entry.entry_id not in refused]
    created = await audit.store(session, entries, now=runtime.clock.now(), key=runtime.audit_key)
    return batches.answer(body, refused, created)


# -- kyc: what a customer declared, and where to tell them the result (shared/contracts/identity.py) -------------


async def _customer_row(session: Any, customer_id: str) -> Any:
    row = (await session.execute(select(models.customer).where(models.customer.c.id == customer_id))).first()
    if row is None:
        raise Problem("No such customer.", code="customer_not_found", status=404)
    return row


@router.get("/customers/{customer_id}/declared-identity", dependencies=[only_from("kyc")])
async def declared_identity(customer_id: str, session: SessionDep, runtime: RuntimeDep) -> DeclaredIdentity:
    """What the customer declared at account opening (and changed since): what proofing checks against."""
    row = await _customer_row(session, customer_id)

    def opened(column: str) -> str:
        return runtime.cipher.open(getattr(row, column), context=f"customer.{column}")

    return DeclaredIdentity(
        customer_id=row.id,
        name=opened("name"),
        name_kana=opened("name_kana"),
        birth_date=date.fromisoformat(opened("birth_date")),
        address=opened("address"),
    )


@router.get("/customers/{customer_id}/contacts", dependencies=[only_from("kyc", "txn")])
async def customer_contacts(customer_id: str, session: SessionDep, runtime: RuntimeDep) -> CustomerContacts:
    """Where kyc's notice of a proofing result goes (notify needs the recipient; auth alone keeps contacts)."""
    contact = accounts.contact_of(await _customer_row(session, customer_id), runtime.cipher)
    return CustomerContacts(
        customer_id=customer_id,
        email=contact.email,
        phone=contact.phone,
        language="en" if contact.language == "en" else "ja",
    )


# Built once (shared/statements.py): txn asks for it before every withdrawal it authorizes.
_KYC_STATUS = Prepared(
    select(models.customer.c.kyc_status, models.customer.c.kyc_verified_at).where(
        models.customer.c.id == bindparam("customer")
    )
)


@router.get("/customers/{customer_id}/kyc", dependencies=[only_from("kyc", "txn")])
async def get_kyc_status(customer_id: str, runtime: RuntimeDep) -> KycStatus:
    """The KYC status as auth holds it: kyc asks before opening a case (KYC-3: no second proof of a verified
    identity, unless a change of a verified attribute sent the customer back to re-verification); txn asks before
    money moves (KYC-2). One read, no transaction."""
    async with runtime.database.direct_reading() as statements:
        row = await statements.one_or_none(_KYC_STATUS, {"customer": customer_id})
    if row is None:
        raise Problem("No such customer.", code="customer_not_found", status=404)
    return KycStatus(customer_id=customer_id, status=row.kyc_status, verified_at=row.kyc_verified_at)


@router.put("/customers/{customer_id}/kyc", dependencies=[only_from("kyc")])
async def put_kyc_status(
    customer_id: str, body: KycStatusUpdate, session: SessionDep, runtime: RuntimeDep
) -> KycStatus:
    """kyc's outcome of identity proofing (kyc_status.py): applied once per verification id; `verified` lifts the
    customer's locks. 404 `customer_not_found`."""
    return await kyc_status.apply_update(session, runtime.outbox, customer_id, body, now=runtime.clock.now())
