"""Opening a customer account (API.md `POST /v1/accounts`): policy-checked password, sealed attributes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import decoys, models
from services.auth.errors import PasswordPolicyViolated
from services.auth.hashing import PasswordHasher
from services.auth.passwords import PasswordPolicy, check_password, load_common_passwords
from services.auth.schemas import AccountApplication, normalize_phone
from shared.clock import Clock
from shared.contracts.notifications import EventType, SuspiciousActivityData
from shared.crypto import FieldCipher
from shared.events import record_event
from shared.ids import new_id
from shared.notifications import send_notification
from shared.outbox import Outbox
from shared.statements import Prepared, Statements, statements_of


@dataclass(frozen=True)
class Contact:
    """What auth knows of a customer to reach and greet them; opened from the sealed columns."""

    customer_id: str
    email: str
    phone: str
    name: str
    birth_date: date
    language: str


def email_index(cipher: FieldCipher, email: str) -> str:
    return cipher.blind_index(email.strip().lower(), context="customer.email")


def phone_index(cipher: FieldCipher, phone: str) -> str:
    return cipher.blind_index(phone, context="customer.phone")


# At most two: one says whose number it is, two say it names no one account.
_BY_PHONE = Prepared(
    select(models.customer.c.email_index).where(models.customer.c.phone_index == bindparam("phone_index")).limit(2)
)


async def login_index(session: AsyncSession | Statements, cipher: FieldCipher, login_id: str) -> str:
    """The e-mail index a login id names an account by: the e-mail address itself, or the registered phone number in
    any usual form (+81 90-1234-5678, 090-1234-5678, 09012345678), looked up by its blind index.

    Whatever the form, one account is one lockout guard (lockout.py): failures typed as the e-mail and as the phone
    add up. A login id that names no account comes back as a keyed digest that matches no e-mail index, stable for
    every form of one number, under which its failures are counted (lockout.unknown_subject). Phone numbers are not
    unique (a family may share one): a number registered to more than one account names none of them, and answers as
    an unknown id does; the e-mail address still logs each in."""
    if "@" in login_id:
        return email_index(cipher, login_id)
    try:
        phone = normalize_phone(login_id)
    except ValueError:
        return email_index(cipher, login_id)
    index = phone_index(cipher, phone)
    found = await statements_of(session).all(_BY_PHONE, {"phone_index": index})
    return str(found[0].email_index) if len(found) == 1 else index


def enforce_password_policy(password: str, *, policy: PasswordPolicy, email: str, phone: str, birth_date: date) -> None:
    violations = check_password(
        password, policy=policy, email=email, phone=phone, birth_date=birth_date, common=load_common_passwords()
    )
    if violations:
        raise PasswordPolicyViolated(
            "The password does not meet the policy.",
            violations=[{"field": "password", "code": v.code, "message": v.message} for v in violations],
        )


async def open_account(
    session: AsyncSession,
    application: AccountApplication,
    *,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    cipher: FieldCipher,
    clock: Clock,
    outbox: Outbox,
    ip: str,
    decoy_ttl: timedelta = timedelta(days=30),
) -> tuple[str, bool]:
    """(customer id, created). An email already registered is not revealed: a decoy id comes back, nothing changes
    but the decoy remembered, so that logging in with it answers as a new account would (decoys.py)."""
    enforce_password_policy(
        application.password,
        policy=policy,
        email=application.email,
        phone=application.phone,
        birth_date=application.birth_date,
    )
    password_hash = await hasher.hash(application.password)  # always spent, so timing does not tell either
    index = email_index(cipher, application.email)
    taken = (await session.execute(select(models.customer).where(models.customer.c.email_index == index))).first()
    now = clock.now()
    if taken is not None:
        await _tell_owner_of_duplicate(session, taken, outbox=outbox, cipher=cipher, now=now, ip=ip)
        decoy_id = new_id("cus")
        await decoys.remember(
            session,
            cipher,
            decoy_id=decoy_id,
            email_index=index,
            password=application.password,
            language=application.language,
            now=now,
            ttl=decoy_ttl,
        )
        return decoy_id, False
    customer_id = new_id("cus")

    def seal(column: str, value: str) -> str:
        return cipher.seal(value, context=f"customer.{column}")

    await session.execute(
        models.customer.insert().values(
            id=customer_id,
            email_index=index,
            phone_index=phone_index(cipher, application.phone),
            email=seal("email", application.email),
            phone=seal("phone", application.phone),
            name=seal("name", application.name),
            name_kana=seal("name_kana", application.name_kana),
            birth_date=seal("birth_date", application.birth_date.isoformat()),
            address=seal("address", application.address),
            language=application.language,
            kyc_status="unverified",
            password_hash=password_hash,
            password_changed_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    await record_event(outbox, session, type="account_opened", occurred_at=now, customer_id=customer_id, ip=ip)
    return customer_id, True


async def find_by_email(session: AsyncSession, cipher: FieldCipher, email: str) -> Row[Any] | None:
    query = select(models.customer).where(models.customer.c.email_index == email_index(cipher, email))
    return (await session.execute(query)).first()


def contact_of(row: Row[Any], cipher: FieldCipher) -> Contact:
    return Contact(
        customer_id=row.id,
        email=cipher.open(row.email, context="customer.email"),
        phone=cipher.open(row.phone, context="customer.phone"),
        name=cipher.open(row.name, context="customer.name"),
        birth_date=date.fromisoformat(cipher.open(row.birth_date, context="customer.birth_date")),
        language=row.language,
    )


DUPLICATE_SUMMARY = {
    "ja": "お客さまのメールアドレスで、新しいアカウントの申込みがありました（申込みは受け付けていません）。",
    "en": "Someone applied for a new account with your e-mail address (the application was not accepted).",
}


async def _tell_owner_of_duplicate(
    session: AsyncSession, owner: Row[Any], *, outbox: Outbox, cipher: FieldCipher, now: datetime, ip: str
) -> None:
    """The applicant gets the same answer as anyone (no enumeration); the owner of the address is told, at most
    once a day however often it is tried, and fraud sees every attempt."""
    contact = contact_of(owner, cipher)
    await send_notification(
        outbox,
        session,
        key=f"auth:duplicate-application:{owner.id}:{now.date().isoformat()}",
        event_type=EventType.SUSPICIOUS_ACTIVITY,
        customer_id=owner.id,
        language=contact.language,
        email=contact.email,
        data=SuspiciousActivityData.model_construct(
            at=now, summary=DUPLICATE_SUMMARY.get(contact.language, DUPLICATE_SUMMARY["ja"])
        ),
        once=True,
    )
    await record_event(
        outbox, session, type="account_application_duplicate", occurred_at=now, customer_id=owner.id, ip=ip
    )
