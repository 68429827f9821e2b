"""Publication of fraud cases (INC-6 (e) 公表): staff publish a notice for the public about a fraud case, and anyone
reads the published notices; a notice never carries customer data.

What is checked is what a careless notice would leak: a customer id, an e-mail address, a phone number (read after
NFKC normalization, so full-width digits and ＠ are caught too). A company's own contact number is refused as well:
the check cannot tell it from a customer's, and the notice can point to the contact page instead.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import models
from services.txn.errors import CustomerDataInNotice, NotFound
from shared.ids import new_id

CUSTOMER_ID = re.compile(r"cus_[0-9a-z]{26}", re.IGNORECASE)
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# A Japanese number (0 then 9 or 10 more digits) or one in +81 form, with or without separators.
PHONE = re.compile(r"(?<![0-9])(?:\+81[\s\-]?|0)(?:[0-9][\s\-()]?){8,9}[0-9](?![0-9])")


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    language: str
    dispute_ids: list[str]


def customer_data_in(text: str) -> str | None:
    """What kind of customer data `text` shows ("customer id", "e-mail address", "phone number"), or None."""
    normalized = unicodedata.normalize("NFKC", text)
    for name, pattern in (("customer id", CUSTOMER_ID), ("e-mail address", EMAIL), ("phone number", PHONE)):
        if pattern.search(normalized):
            return name
    return None


async def publish(session: AsyncSession, notice: Notice, *, actor: str, at: datetime) -> str:
    """Publish `notice`; its id. Refused (422) when it shows customer data, 404 when it names an unknown dispute."""
    for field, text in (("title", notice.title), ("body", notice.body)):
        found = customer_data_in(text)
        if found is not None:
            raise CustomerDataInNotice(
                f"The notice's {field} shows a {found}: a public notice carries no customer data."
            )
    d = models.dispute
    ids = sorted(set(notice.dispute_ids))
    known = set((await session.scalars(select(d.c.id).where(d.c.id.in_(ids)))).all()) if ids else set()
    if known != set(ids):
        raise NotFound(f"No such dispute: {', '.join(sorted(set(ids) - known))}.")
    publication_id = new_id("pub")
    await session.execute(
        models.publication.insert().values(
            id=publication_id,
            title=notice.title,
            body=notice.body,
            language=notice.language,
            dispute_ids=json.dumps(ids),
            published_by=actor,
            published_at=at,
        )
    )
    return publication_id


async def load(session: AsyncSession, publication_id: str) -> Any:
    p = models.publication
    return (await session.execute(select(p).where(p.c.id == publication_id))).one()


def dispute_ids_of(row: Any) -> list[str]:
    ids: list[str] = json.loads(row.dispute_ids)
    return ids


async def published(session: AsyncSession, *, language: str | None, before: str | None, limit: int) -> list[Any]:
    """Published notices, newest first (time, then id); `before`: only those older than that notice."""
    p = models.publication
    query = select(p).order_by(p.c.published_at.desc(), p.c.id.desc()).limit(limit)
    if language is not None:
        query = query.where(p.c.language == language)
    if before is not None:
        cursor = (await session.execute(select(p.c.published_at, p.c.id).where(p.c.id == before))).first()
        if cursor is not None:
            query = query.where(
                (p.c.published_at < cursor.published_at)
                | ((p.c.published_at == cursor.published_at) & (p.c.id < cursor.id))
            )
    return list((await session.execute(query)).all())
