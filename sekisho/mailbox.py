"""`sekisho mailbox`: the messages a local run would have sent, when neither SMTP nor SMS is configured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from services.notify import models
from services.notify.settings import NotifySettings
from shared.crypto import FieldCipher
from shared.database import Database, target_for


@dataclass(frozen=True)
class MailboxMessage:
    created_at: datetime
    channel: str
    recipient: str
    subject: str
    body: str


async def read_mailbox(
    settings: NotifySettings, keys: dict[str, bytes], *, to: str | None, limit: int
) -> list[MailboxMessage]:
    cipher = FieldCipher(keys)
    database = Database(target_for(settings, "notify"), pool_size=1)
    m = models.mailbox_message
    try:
        async with database.transaction() as session:
            rows = (
                await session.execute(select(m).order_by(m.c.id.desc()).limit(limit if to is None else 10_000))
            ).all()
    finally:
        await database.dispose()
    messages = [
        MailboxMessage(
            created_at=row.created_at,
            channel=row.channel,
            recipient=cipher.open(row.recipient, context="mailbox_message.recipient"),
            subject=cipher.open(row.subject, context="mailbox_message.subject"),
            body=cipher.open(row.body, context="mailbox_message.body"),
        )
        for row in rows
    ]
    if to is not None:
        messages = [message for message in messages if message.recipient == to][:limit]
    return messages


def format_message(message: MailboxMessage) -> str:
    header = f"── {message.created_at:%Y-%m-%d %H:%M:%S} UTC · {message.channel} · to {message.recipient}"
    lines = [header]
    if message.subject:
        lines.append(f"Subject: {message.subject}")
    lines += ["", message.body, ""]
    return "\n".join(lines)
