"""Verification cases in the database: opening one (one open case per customer), applying transitions, the
sealed images, the declared identity they were opened against, and the verified identity of an approved one."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kyc import models
from services.kyc.cases import DECIDED, OPEN, IllegalTransition, Status, Transition, opened
from services.kyc.errors import VerificationInProgress, VerificationNotFound
from services.kyc.images import CheckedImage
from shared.contracts.identity import DeclaredIdentity
from shared.crypto import FieldCipher
from shared.database import owned_row
from shared.ids import new_id

DECLARED_CONTEXT = "verification_case.declared"
IMAGE_CONTEXT = "verification_image.content"
CERTIFICATE_CONTEXT = "jpki_challenge.certificate_identity"


async def open_case(
    session: AsyncSession,
    *,
    customer_id: str,
    method: str,
    document_type: str | None,
    declared: DeclaredIdentity,
    cipher: FieldCipher,
    now: datetime,
) -> str:
    """A new case in `submitted`, or VerificationInProgress when the customer has an open one. The look-up answers
    the usual case; the unique open_customer_id decides between requests that arrive together."""
    c = models.verification_case
    found = (await session.execute(select(c.c.id).where(c.c.open_customer_id == customer_id))).first()
    if found is not None:
        raise VerificationInProgress("An identity verification is already in progress.", verification_id=found.id)
    verification_id = new_id("vrf")
    try:
        async with session.begin_nested():
            await session.execute(
                c.insert().values(
                    id=verification_id,
                    customer_id=customer_id,
                    method=method,
                    status=Status.SUBMITTED.value,
                    document_type=document_type,
                    open_customer_id=customer_id,
                    declared=cipher.seal(declared.model_dump_json(), context=DECLARED_CONTEXT),
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError as exc:
        raise VerificationInProgress("An identity verification is already in progress.") from exc
    await _append(session, verification_id, opened(actor="customer", at=now))
    return verification_id


async def load_case(
    session: AsyncSession, verification_id: str, *, customer_id: str | None = None, for_update: bool = False
) -> Any:
    """The case; for a customer, only their own (another's answers exactly as a missing one: 404)."""
    return await owned_row(
        session,
        models.verification_case,
        verification_id,
        customer_id=customer_id,
        for_update=for_update,
        missing=VerificationNotFound("No such verification."),
    )


def declared_of(case: Any, cipher: FieldCipher) -> DeclaredIdentity:
    return DeclaredIdentity.model_validate_json(cipher.open(case.declared, context=DECLARED_CONTEXT))


async def apply(session: AsyncSession, verification_id: str, transition: Transition) -> None:
    """Move the case, only from the status the transition was made from: of two decisions at once, one wins and
    the other is an IllegalTransition."""
    assert transition.from_status is not None
    c = models.verification_case
    values: dict[str, Any] = {"status": transition.to_status.value, "updated_at": transition.at}
    if transition.to_status in DECIDED:
        values.update(open_customer_id=None, decided_by=transition.actor, decision_reason=transition.reason)
    result = await session.execute(
        update(c)
        .where(c.c.id == verification_id, c.c.status == transition.from_status.value)
        .values(**values)
        .returning(c.c.id)
    )
    if result.first() is None:
        raise IllegalTransition("The verification changed meanwhile.", current="changed")
    await _append(session, verification_id, transition)


async def _append(session: AsyncSession, verification_id: str, transition: Transition) -> None:
    await session.execute(
        models.verification_transition.insert().values(
            id=new_id("vtr"),
            verification_id=verification_id,
            from_status=transition.from_status.value if transition.from_status else None,
            to_status=transition.to_status.value,
            actor=transition.actor,
            reason=transition.reason,
            at=transition.at,
        )
    )


async def store_images(
    session: AsyncSession,
    verification_id: str,
    images: Sequence[CheckedImage],
    *,
    cipher: FieldCipher,
    now: datetime,
) -> None:
    await session.execute(
        models.verification_image.insert(),
        [
            {
                "id": new_id("vim"),
                "verification_id": verification_id,
                "kind": image.kind,
                "content_type": image.content_type,
                "width": image.width,
                "height": image.height,
                "size": image.size,
                "sha256": image.sha256,
                "content": cipher.seal(base64.b64encode(image.data).decode(), context=IMAGE_CONTEXT),
                "created_at": now,
            }
            for image in images
        ],
    )


async def image_rows(session: AsyncSession, verification_id: str) -> list[Any]:
    i = models.verification_image
    return list(
        (await session.execute(select(i).where(i.c.verification_id == verification_id).order_by(i.c.kind))).all()
    )


def image_metadata(row: Any) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "content_type": row.content_type,
        "width": row.width,
        "height": row.height,
        "size": row.size,
        "sha256": row.sha256,
    }


async def transitions_of(session: AsyncSession, verification_id: str) -> list[dict[str, Any]]:
    t = models.verification_transition
    rows = (
        await session.execute(select(t).where(t.c.verification_id == verification_id).order_by(t.c.at, t.c.id))
    ).all()
    return [
        {"from": r.from_status, "to": r.to_status, "actor": r.actor, "reason": r.reason, "at": r.at.isoformat()}
        for r in rows
    ]


async def record_verified_identity(
    session: AsyncSession, case: Any, declared: DeclaredIdentity, *, cipher: FieldCipher, now: datetime
) -> None:
    """The identity as proven by this case (KYC-4: txn checks bank account holders against it)."""

    def seal(name: str, value: str) -> str:
        return cipher.seal(value, context=f"verified_identity.{name}")

    await session.execute(
        models.verified_identity.insert().values(
            id=new_id("vid"),
            customer_id=case.customer_id,
            verification_id=case.id,
            method=case.method,
            name=seal("name", declared.name),
            name_kana=seal("name_kana", declared.name_kana),
            birth_date=seal("birth_date", declared.birth_date.isoformat()),
            address=seal("address", declared.address),
            verified_at=now,
        )
    )


async def latest_verified_identity(session: AsyncSession, customer_id: str) -> Any | None:
    """The customer's current verified identity: the one recorded by their latest approval (None: never approved)."""
    v = models.verified_identity
    query = select(v).where(v.c.customer_id == customer_id).order_by(v.c.verified_at.desc(), v.c.id.desc()).limit(1)
    return (await session.execute(query)).first()


async def list_cases(session: AsyncSession, *, status: str | None, after: str | None, limit: int) -> list[Any]:
    """Oldest first (a queue), paged by id (ids sort by creation time)."""
    c = models.verification_case
    query = select(
        c.c.id, c.c.customer_id, c.c.method, c.c.status, c.c.document_type, c.c.created_at, c.c.updated_at
    ).order_by(c.c.id)
    if status is not None:
        query = query.where(c.c.status == status)
    if after is not None:
        query = query.where(c.c.id > after)
    return list((await session.execute(query.limit(limit))).all())


def is_open(case: Any) -> bool:
    return Status(case.status) in OPEN


async def relay_pending_verified(session: AsyncSession, customer_id: str) -> bool:
    """Whether an approval of this customer waits to be told to auth (auth's status is not yet `verified`)."""
    s = models.kyc_status_sync
    query = select(s.c.id).where(s.c.customer_id == customer_id, s.c.status == "verified", s.c.synced_at.is_(None))
    return (await session.execute(query.limit(1))).first() is not None


async def identity_to_record(session: AsyncSession, case: Any, cipher: FieldCipher) -> DeclaredIdentity:
    """What an approval of the case vouches for: the certificate's identity for JPKI (the strongest proof states
    it), what the customer declared for the other methods (their documents or letter were checked against it)."""
    if case.method == "jpki":
        j = models.jpki_challenge
        row = (await session.execute(select(j.c.certificate_identity).where(j.c.verification_id == case.id))).first()
        if row is not None and row.certificate_identity is not None:
            return DeclaredIdentity.model_validate_json(
                cipher.open(row.certificate_identity, context=CERTIFICATE_CONTEXT)
            )
    return declared_of(case, cipher)
