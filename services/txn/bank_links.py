"""Bank links (charge contracts, the 2020 Docomo-account case): a customer's bank account linked to the wallet only
under today's rules, and told to the customer at the contacts registered before it (LINK-2).

Today's rules (RULES_VERSION 2): the identity is verified now (KYC-2, auth's status); the holder the bank reports
for the account, in kana and with the birth date where the bank gives one, is the verified person (KYC-4, asked of
kyc, which keeps the verified identity) and is whom the customer named; and the customer proved a possession factor
for this very link, other than an e-mail code (LINK-1: the gateway demands the step-up bound to the four fields,
and txn checks the grant it vouches for again). Version 1 was the older system's: a link made with the account's
PIN or the login password alone and no check of the holder against a verified identity; only links imported from
it carry that version. Each link records the rules it was made under (version, the verification matched against,
the possession factor, when the holder was matched), so that links made under weaker rules are found again (INC-9,
link_review.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.txn import bank_suspensions, models
from services.txn.banks import AccountHolder, AccountRef, LinkOutcome, LinkReport
from services.txn.errors import (
    AlreadyLinked,
    BankAccountNotFound,
    HolderMismatch,
    KycNotVerified,
    NotFound,
    PossessionRequired,
)
from services.txn.runtime import TxnRuntime
from shared.contracts.identity import IdentityMatchRequest
from shared.contracts.notifications import BankAccountLinkedData, EventType
from shared.crypto import FieldCipher
from shared.events import record_event
from shared.ids import new_id
from shared.kana import same_holder
from shared.notifications import send_notification

RULES_VERSION = 2
# What counts as the possession factor of a link: an e-mail code does not (the gateway's policy refuses it for
# `bank_link`: an address is the contact an account taker changes first), a PIN or password is knowledge. A passkey's
# key (hwk: bound to one device, swk: synced) is the strongest of them: it cannot be relayed by a phishing site.
POSSESSION_METHODS = frozenset({"sms", "totp", "device_key", "hwk", "swk"})

ACTIVE = "active"
SUSPENDED = "suspended_pending_reverification"
REPLACED = "replaced"

ACCOUNT_NUMBER_CONTEXT = "bank_link.account_number"
HOLDER_CONTEXT = "bank_link.holder_kana"
# Nothing here says whose account it is: a mismatch of either name reads the same to the caller.
MISMATCH = "The bank account's holder is not the verified customer; the account was not linked."


@dataclass(frozen=True)
class Caller:
    """The customer asking, as the gateway vouched for them, and the step-up it redeemed for this very request."""

    customer_id: str
    device_id: str | None = None
    ip: str | None = None
    step_up_class: str | None = None
    step_up_method: str | None = None


@dataclass(frozen=True)
class Link:
    link_id: str
    customer_id: str
    status: str
    bank_code: str
    bank_name: str
    branch_code: str
    account_last4: str
    account_digest: str
    rules_version: int
    created_at: datetime
    cool_off_until: datetime

    @classmethod
    def of(cls, row: Any) -> Link:
        return cls(
            link_id=row.id,
            customer_id=row.customer_id,
            status=row.status,
            bank_code=row.bank_code,
            bank_name=row.bank_name,
            branch_code=row.branch_code,
            account_last4=row.account_last4,
            account_digest=row.account_digest,
            rules_version=row.rules_version,
            created_at=row.created_at,
            cool_off_until=row.cool_off_until,
        )


def account_digest(cipher: FieldCipher, account: AccountRef) -> str:
    """The account's keyed digest: fraud's `bank_account` (features, the shared-account rule, deny lists)."""
    return cipher.blind_index(account.key, context="bank_account")


def account_of(cipher: FieldCipher, row: Any) -> AccountRef:
    return AccountRef(row.bank_code, row.branch_code, cipher.open(row.account_number, context=ACCOUNT_NUMBER_CONTEXT))


async def link_account(
    session: AsyncSession, runtime: TxnRuntime, *, caller: Caller, account: AccountRef, holder_kana: str
) -> Link:
    """Link the account under today's rules, or refuse why not. A refusal the bank's or kyc's answer decides is a
    fraud event (`bank_link_refused`) and stores nothing else."""
    if caller.step_up_class != "possession" or caller.step_up_method not in POSSESSION_METHODS:
        raise PossessionRequired(
            "Linking a bank account needs a code from your phone or authenticator app, or a passkey, for it."
        )
    customer_id, now = caller.customer_id, runtime.clock.now()
    if (await runtime.auth.kyc_status(customer_id)).status != "verified":
        raise KycNotVerified("Verify your identity before linking a bank account.")
    await bank_suspensions.refuse_if_suspended(session, account.bank_code)
    digest = account_digest(runtime.cipher, account)
    await _refuse_if_linked(session, customer_id, digest)

    holder = await runtime.bank.verify_account(account)
    if holder is None:
        await _record_refusal(runtime, session, caller, digest, "bank_account_not_found")
        raise BankAccountNotFound("The bank has no open account with these numbers; the account was not linked.")
    if not same_holder(holder_kana, holder.holder_kana):
        await _record_refusal(runtime, session, caller, digest, "holder_mismatch", against="name_given")
        await _report(runtime, account, "refused_holder_mismatch", now)
        raise HolderMismatch(MISMATCH)
    match = await runtime.kyc.identity_match(
        IdentityMatchRequest(
            customer_id=customer_id, holder_kana=holder.holder_kana, holder_birth_date=holder.birth_date
        )
    )
    if not match.verified:
        raise KycNotVerified("Verify your identity before linking a bank account.")
    if not match.matched:
        await _record_refusal(
            runtime,
            session,
            caller,
            digest,
            "holder_mismatch",
            against="verified_identity",
            mismatches=match.mismatches,
        )
        await _report(runtime, account, "refused_holder_mismatch", now)
        raise HolderMismatch(MISMATCH)

    link_id = new_id("lnk")
    row = {
        "id": link_id,
        "customer_id": customer_id,
        "bank_code": account.bank_code,
        "bank_name": holder.bank_name[:100],
        "branch_code": account.branch_code,
        "account_number": runtime.cipher.seal(account.account_number, context=ACCOUNT_NUMBER_CONTEXT),
        "account_last4": account.account_number[-4:],
        "account_digest": digest,
        "holder_kana": runtime.cipher.seal(holder.holder_kana, context=HOLDER_CONTEXT),
        "status": ACTIVE,
        "rules_version": RULES_VERSION,
        "kyc_method": match.method,
        "kyc_verification_id": match.verification_id,
        "possession_factor": caller.step_up_method,
        "holder_matched_at": now,
        "created_at": now,
        "cool_off_until": now + timedelta(seconds=runtime.settings.txn_new_link_cool_off_seconds),
    }
    try:
        async with session.begin_nested():
            await session.execute(models.bank_link.insert().values(**row))
    except IntegrityError:  # the same account linked by a concurrent request of this customer
        raise AlreadyLinked("This bank account is linked already.") from None
    await _replace_suspended(session, customer_id, digest, link_id, now)
    await _tell(runtime, session, caller, account, holder, link_id, digest, now)
    await _report(runtime, account, "linked", now)
    return Link.of(SimpleNamespace(**row))


async def _report(runtime: TxnRuntime, account: AccountRef, outcome: LinkOutcome, at: datetime) -> None:
    """The bank tells its depositor, who may not be our customer at all (seed 2: a wallet opened in their name)."""
    await runtime.bank.report_link(LinkReport(account, outcome, runtime.settings.txn_service_name, at))


async def _refuse_if_linked(session: AsyncSession, customer_id: str, digest: str) -> None:
    b = models.bank_link
    found = await session.scalar(
        select(b.c.id).where(b.c.customer_id == customer_id, b.c.account_digest == digest, b.c.status == ACTIVE)
    )
    if found is not None:
        raise AlreadyLinked("This bank account is linked already.", link_id=found)


async def _replace_suspended(session: AsyncSession, customer_id: str, digest: str, link_id: str, at: datetime) -> None:
    """The account's links suspended pending re-verification (INC-9) are done with: this link re-verified it."""
    b = models.bank_link
    await session.execute(
        b.update()
        .where(b.c.customer_id == customer_id, b.c.account_digest == digest, b.c.status == SUSPENDED)
        .values(status=REPLACED, replaced_by=link_id, status_changed_at=at, status_reason="linked again")
    )


async def _tell(
    runtime: TxnRuntime,
    session: AsyncSession,
    caller: Caller,
    account: AccountRef,
    holder: AccountHolder,
    link_id: str,
    digest: str,
    at: datetime,
) -> None:
    """The customer's notice (LINK-2) at the contacts auth has registered now: a contact changed and not yet
    verified is still pending there, so the notice reaches the owner, not whoever asked for the change. And fraud's
    event, with how many other customers have this account linked (one account, many customers: mule accounts)."""
    b = models.bank_link
    others = await session.scalar(
        select(func.count(func.distinct(b.c.customer_id))).where(
            and_(b.c.account_digest == digest, b.c.status == ACTIVE, b.c.customer_id != caller.customer_id)
        )
    )
    contacts = await runtime.auth.contacts(caller.customer_id)
    await send_notification(
        runtime.outbox,
        session,
        key=f"bank_account_linked:{link_id}",
        event_type=EventType.BANK_ACCOUNT_LINKED,
        # The whole account number goes: every template shows it masked to its last 4 digits (DATA-1), and only
        # 4 digits would show as "****" (masking hides a number of 4 digits or fewer entirely).
        data=BankAccountLinkedData.model_construct(
            at=at,
            bank_name=holder.bank_name[:100],
            branch_code=account.branch_code,
            account_number=account.account_number,
            service_name=runtime.settings.txn_service_name,
        ),
        customer_id=caller.customer_id,
        language=contacts.language,
        email=contacts.email,
        phone=contacts.phone,
    )
    await record_event(
        runtime.outbox,
        session,
        type="bank_account_linked",
        occurred_at=at,
        customer_id=caller.customer_id,
        device_id=caller.device_id,
        ip=caller.ip,
        data={
            "bank_account": digest,
            "link_id": link_id,
            "bank_code": account.bank_code,
            "rules_version": RULES_VERSION,
            "possession_factor": caller.step_up_method,
            "linked_by_other_customers": int(others or 0),
        },
    )


async def _record_refusal(
    runtime: TxnRuntime, session: AsyncSession, caller: Caller, digest: str, reason: str, **detail: Any
) -> None:
    await record_event(
        runtime.outbox,
        session,
        type="bank_link_refused",
        occurred_at=runtime.clock.now(),
        customer_id=caller.customer_id,
        device_id=caller.device_id,
        ip=caller.ip,
        outcome=reason,
        data={"bank_account": digest, "reason": reason, **detail},
    )


async def customer_link(session: AsyncSession, *, customer_id: str, link_id: str) -> Any:
    """The customer's own link row; another customer's or none is NotFound (never told apart)."""
    b = models.bank_link
    row = (await session.execute(select(b).where(b.c.id == link_id, b.c.customer_id == customer_id))).first()
    if row is None:
        raise NotFound("No such bank link.")
    return row
