"""Seed 2, the 2020 "Docomo account" case, replayed end to end over HTTP (seeds/002, 銀行口座不正出金事案).

The criminal holds a depositor's stolen data (name, kana, birth date, address, bank, branch, account number and
the cash-card PIN), opens a wallet account in the depositor's name with their own e-mail and phone, links the
depositor's bank account with the PIN alone, and charges the wallet from it, up to 300,000 yen a month.

Here each step fails where the guideline puts the stop (FSA 2020-09-15 requests; KYC-1/2, LINK-1, KYC-4):
- the wallet account opens, but its identity is not verified: no bank account is linked (KYC-2), whatever factor
  the criminal's own phone brings, and a PIN is no factor at all (LINK-1);
- eKYC with the depositor's data and the criminal's face goes to staff, who reject it;
- a mule whose own identity is verified, linking the depositor's account, is refused: the bank's holder is not the
  verified identity (KYC-4); the bank hears of that attempt and tells its depositor;
- no charge is possible without a link; not a yen leaves the depositor's account, and the books balance.

The depositor is no customer of the wallet: the bank is the one who can tell them, and it hears of every attempt
that reaches their account (BankAdapter.report_link). The attempts stopped earlier, at KYC, never reach the bank
at all: nothing was looked up or moved on the account.
"""

from __future__ import annotations

from datetime import date

from sekisho.sinks import SmsSink, SmtpSink
from services.txn import models
from tests.auth.conftest import CUSTOMER
from tests.harness import System
from tests.kyc.conftest import ekyc_body, signed_in_again, staff_headers, start
from tests.servers import eventually
from tests.txn.banking import (
    bank_account,
    books_balance,
    charge,
    link,
    ref,
    simulator,
    stepped_up,
    txn_rows,
    verified_customer,
)
from tests.txn.conftest import Customer, signed_in_customer

VICTIM_ACCOUNT = {"account_number": "7654321", "balance": 500_000}
CRIMINAL = {"email": "kaiin.2020@example.net", "phone": "080-9999-0000"}


async def test_a_wallet_opened_in_a_depositors_name_never_links_or_charges_their_account(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    # The depositor's account at the bank: Hanako's name as the bank writes it, her birth date, 500,000 yen.
    body = bank_account(system, **VICTIM_ACCOUNT)  # type: ignore[arg-type]
    account = ref(body)

    # 1. The wallet account in Hanako's name, with the criminal's own e-mail and phone: it opens, unverified.
    criminal = await signed_in_customer(system, sms, **CRIMINAL)  # the criminal's phone answers the login code
    me = await system.gateway.get("/v1/me", headers=criminal.headers)
    assert (me.json()["name"], me.json()["kyc_status"]) == (CUSTOMER["name"], "unverified")

    # 2. The link, with the criminal's own phone's code and the PIN: the unverified identity stops it (KYC-2).
    refused = await stepped_up(system, sms, criminal, "/v1/bank-links", {**body, "pin": "4321"})
    assert (refused.status_code, refused.json()["code"]) == (403, "kyc_required"), refused.text

    # 3. eKYC with Hanako's data on a forged licence and the criminal's own face: staff see it and reject it.
    submitted = await start(system, criminal.headers, ekyc_body())
    assert (submitted.status_code, submitted.json()["status"]) == (202, "manual_review"), submitted.text
    reviewer = await staff_headers(system, "reviewer.seed2", "analyst")
    rejected = await system.gateway.post(
        f"/v1/ops/kyc/verifications/{submitted.json()['verification_id']}/reject",
        json={"reason": "the selfie is not the person on the licence"},
        headers=reviewer,
    )
    assert rejected.status_code == 200, rejected.text
    still = await stepped_up(system, sms, criminal, "/v1/bank-links", body)
    assert (still.status_code, still.json()["code"]) == (403, "kyc_required")
    assert simulator(system).link_reports == []  # the depositor's account was never even looked up

    # 4. A mule, verified under their own identity, links Hanako's account: the holder is not the mule (KYC-4).
    mule = await verified_customer(
        system,
        sms,
        email="mule@example.net",
        phone="080-7777-0000",
        name="田中 次郎",
        name_kana="タナカ ジロウ",
        birth_date="1985-01-20",
    )
    for typed in (
        CUSTOMER["name_kana"],
        "タナカ ジロウ",
    ):  # the depositor's name as the criminal knows it, or their own
        attempt = await link(system, sms, mule, {**body, "holder_kana": typed})
        assert (attempt.status_code, attempt.json()["code"]) == (422, "holder_mismatch"), attempt.text
    reports = simulator(system).link_reports
    assert [(r.account, r.outcome) for r in reports] == [(account, "refused_holder_mismatch")] * 2

    # 5. No link, no charge: the unverified wallet is stopped at KYC again, and the mule's made-up link is nobody's.
    attempt = await charge(system, sms, criminal, "lnk_00000000000000000000000000", 50_000)
    assert (attempt.status_code, attempt.json()["code"]) == (403, "kyc_required"), attempt.text
    attempt = await charge(system, sms, mule, "lnk_00000000000000000000000000", 50_000)
    assert attempt.status_code == 404, attempt.text
    assert simulator(system).balance(account) == VICTIM_ACCOUNT["balance"]
    assert await txn_rows(system, models.bank_link) == []
    assert await txn_rows(system, models.posting) == []
    await books_balance(system)

    # The criminal was told of their rejected proofing at the contacts they gave; the depositor's real address (the
    # CUSTOMER e-mail) received nothing from the wallet: it was never registered.
    await eventually(lambda: len(smtp.to(CRIMINAL["email"])) >= 1)
    assert smtp.to(CUSTOMER["email"]) == []


async def test_the_depositor_who_is_a_customer_links_their_own_account(system: System, sms: SmsSink) -> None:
    """The same account, linked by Hanako herself once her identity is verified: the stops above are for the
    criminal, not for her."""
    body = bank_account(system, **VICTIM_ACCOUNT)  # type: ignore[arg-type]
    hanako: Customer = await verified_customer(system, sms, birth_date=date(1990, 4, 12).isoformat())
    hanako.headers = await signed_in_again(system, sms, email=hanako.email, phone=hanako.phone)
    made = await link(system, sms, hanako, body)
    assert made.status_code == 201, made.text
    assert [r.outcome for r in simulator(system).link_reports] == ["linked"]
