"""Staff find a customer by e-mail address or phone number (the consultation desk), through the blind indexes the
values are stored under: the value is never decrypted to compare, and never kept (the audit entry names who was
found, not what was typed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import accounts, models
from shared.crypto import FieldCipher
from shared.masking import mask_email, mask_phone

# A phone number may be shared (a family); more than this many is not a search the desk needs.
MAX_RESULTS = 20


async def find_customers(
    session: AsyncSession, cipher: FieldCipher, *, email: str | None, phone: str | None
) -> list[dict[str, Any]]:
    """The customers with this e-mail address (at most one) or this phone number (E.164), masked (DATA-1)."""
    c = models.customer
    if email is not None:
        where = c.c.email_index == accounts.email_index(cipher, email)
    elif phone is not None:
        where = c.c.phone_index == accounts.phone_index(cipher, phone)
    else:
        raise ValueError("an e-mail address or a phone number")
    rows = (await session.execute(select(c).where(where).order_by(c.c.created_at).limit(MAX_RESULTS))).all()
    found = []
    for row in rows:
        contact = accounts.contact_of(row, cipher)
        found.append(
            {
                "customer_id": row.id,
                "email": mask_email(contact.email),
                "phone": mask_phone(contact.phone),
                "kyc_status": row.kyc_status,
            }
        )
    return found
