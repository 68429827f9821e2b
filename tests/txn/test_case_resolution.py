"""Case resolution through the gateway (INC-6): the emergency contact route (a dispute opened at the desk for a victim
who calls), the service stopped (the customer locked, an operation stopped by a kill switch), the credit
information the fraud caused deleted at the credit bureau, the victim's liability per the relief policy, and the
publication of the case for the public, with no customer data.

The withdrawals are real: requested (tests/txn/atm_network.py's factory), authorized and completed by a partner ATM
network through the gateway with signed calls; completion records the debt and reports it to the bureau."""

from __future__ import annotations

from typing import Any

import pytest

from sekisho.sinks import SmsSink
from services.gateway.bearer import SESSION_CHECK_SECONDS
from services.txn.credit_bureau import CreditBureauSimulator
from tests.auth.test_api_login import grant_by_sms, login
from tests.harness import System
from tests.servers import eventually_async
from tests.txn.atm_network import (
    Partner,
    account,
    authorized,
    borrower,
    create_partner,
    e164,
    signed_in_with_sms,
    txn_runtime,
)
from tests.txn.fraud_postings import completed_withdrawal, staff
from tests.txn.test_disputes import dispute, victim_with_line
from tests.txn.test_disputes_ops import audit_actions, open_at_desk

STOP = {"active": True, "reason": "INC-2026-12: stolen phones used for charges"}
NOTICE = {
    "title": "盗まれたスマートフォンによる不正出金について",
    "body": (
        "2026年11月、盗まれたスマートフォンから当社のスマホATM出金が行われる事案が発生しました。"
        "被害に遭われたお客さまには、補償方針に基づき全額を補償し、不正取引による信用情報は削除しました。"
        "身に覚えのない取引の通知を受け取った場合は、当社サイトのお問い合わせ窓口からご連絡ください。"
    ),
    "language": "ja",
}


def bureau(system: System) -> CreditBureauSimulator:
    simulated = txn_runtime(system).bureau
    assert isinstance(simulated, CreditBureauSimulator)
    return simulated


async def completed(system: System, atm: Partner, customer_id: str, amount: int) -> None:
    answered = await atm.complete(await authorized(system, atm, customer_id, amount))
    assert (answered.status_code, answered.json()["status"]) == (200, "completed"), answered.text


async def credit_information(system: System, customer_id: str) -> list[dict[str, Any]]:
    analyst = await staff(system, "analyst")
    found = await system.gateway.get("/v1/ops/credit-information", params={"customer_id": customer_id}, headers=analyst)
    assert found.status_code == 200, found.text
    records: list[dict[str, Any]] = found.json()["records"]
    return records


async def notices(system: System) -> dict[str, Any]:
    listed = await system.gateway.get("/v1/notices")  # no token: the public
    assert listed.status_code == 200, listed.text
    body: dict[str, Any] = listed.json()
    return body


@pytest.mark.req("INC-6")
@pytest.mark.usefixtures("fraud_allows")
async def test_a_fraud_case_is_resolved_from_the_victims_call_to_the_public_notice(
    system: System, sms: SmsSink
) -> None:
    victim = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    await completed(system, atm, victim.customer_id, 20_000)  # the victim's own
    await completed(system, atm, victim.customer_id, 50_000)  # the thief's, from the stolen phone
    listed = (await system.gateway.get("/v1/me/transactions", headers=victim.headers)).json()["transactions"]
    by_amount = {t["amount"]: t["transaction_id"] for t in listed if t["kind"] == "withdrawal"}
    own, stolen = by_amount[20_000], by_amount[50_000]
    records = {r["transaction_id"]: r for r in await credit_information(system, victim.customer_id)}
    for posting_id in (own, stolen):  # each completion left a debt, and the bureau acknowledged its report
        assert (records[posting_id]["kind"], records[posting_id]["status"]) == ("debt", "reported")
        assert records[posting_id]["reported_at"] is not None
        assert bureau(system).is_reported(records[posting_id]["record_id"])

    # (a) The emergency contact route: the victim calls the desk; an analyst opens the dispute for them, with the
    # declaration that they will not bear the debt taken on the phone.
    opened = await open_at_desk(system, victim.customer_id, [stolen])
    dispute_id = opened["dispute_id"]
    assert (opened["status"], opened["channel"], opened["declared_by"]) == ("under_review", "desk", opened["opened_by"])

    # (b) The service stops: an admin stops charges for everyone (the thief's session is refused before txn), and a
    # supervisor locks the customer: every session ends and a sign-in is refused.
    admin = await staff(system, "admin")
    stopped = await system.gateway.put("/v1/ops/kill-switches/charge", json=STOP, headers=admin)
    assert stopped.status_code == 200, stopped.text
    charge = {"link_id": "bln_00000000000000000000000000", "amount": 10_000}
    refused = await system.gateway.post("/v1/charges", json=charge, headers=victim.headers)
    assert (refused.status_code, refused.json()["code"]) == (503, "operation_suspended"), refused.text
    supervisor = await staff(system, "supervisor")
    locked = await system.gateway.post(f"/v1/ops/customers/{victim.customer_id}/lock", headers=supervisor)
    assert locked.status_code == 200, locked.text
    system.clock.advance(seconds=SESSION_CHECK_SECONDS + 1)  # type: ignore[attr-defined]  # the gateway asks again
    assert (await system.gateway.get("/v1/me/account", headers=victim.headers)).status_code == 401
    assert (await login(system.gateway, login_id=victim.email, device="thief-phone")).status_code == 423

    # (d) The victim's liability per the relief policy for this kind of transaction: a withdrawal, nothing borne.
    relieved = await system.gateway.post(f"/v1/ops/disputes/{dispute_id}/relief", json={}, headers=supervisor)
    assert relieved.status_code == 200, relieved.text
    assert (relieved.json()["status"], relieved.json()["relieved_amount"]) == ("relieved", 50_000)
    assert (await system.gateway.get(f"/v1/me/disputes/{dispute_id}", headers=victim.headers)).status_code == 401
    unlocked = await system.gateway.post(f"/v1/ops/customers/{victim.customer_id}/unlock", headers=supervisor)
    assert unlocked.status_code == 200, unlocked.text
    victim.headers = await signed_in_with_sms(system, sms, victim)
    after = await account(system, victim)
    assert (after["outstanding"], after["available"]) == (20_000, 280_000)
    own_view = await system.gateway.get(f"/v1/me/disputes/{dispute_id}", headers=victim.headers)
    if own_view.status_code == 401:  # a view may ask for a fresh possession factor
        grant = await grant_by_sms(system, sms, own_view.json()["challenge"]["id"])
        own_view = await system.gateway.get(
            f"/v1/me/disputes/{dispute_id}", headers={**victim.headers, "Step-Up-Grant": grant}
        )
    assert own_view.status_code == 200, own_view.text
    rules = {r["kind"]: r["victim_bears"] for r in own_view.json()["relief_policy"]["rules"]}
    assert rules == {"withdrawal": "nothing", "charge": "nothing"}

    # (c) The credit information the fraud caused is deleted at the bureau, naming the dispute; the victim's own
    # debt stays reported.
    records = {r["transaction_id"]: r for r in await credit_information(system, victim.customer_id)}
    fraud_record, own_record = records[stolen], records[own]
    assert (fraud_record["status"], fraud_record["deletion_dispute_id"]) == ("deleted", dispute_id)
    assert fraud_record["deleted_at"] is not None
    assert (own_record["status"], own_record["deleted_at"]) == ("reported", None)
    sent = bureau(system).deletions[fraud_record["record_id"]]
    assert sent.dispute_id == dispute_id
    assert not bureau(system).is_reported(fraud_record["record_id"])
    assert bureau(system).is_reported(own_record["record_id"])

    # (e) Publication: a supervisor publishes a notice of the case; anyone reads it, and it names no one.
    published = await system.gateway.post(
        "/v1/ops/publications", json={**NOTICE, "dispute_ids": [dispute_id]}, headers=supervisor
    )
    assert published.status_code == 201, published.text
    assert published.json()["dispute_ids"] == [dispute_id]
    public = await notices(system)
    (notice,) = public["notices"]
    assert (notice["notice_id"], notice["title"], notice["body"]) == (
        published.json()["publication_id"],
        NOTICE["title"],
        NOTICE["body"],
    )
    shown = str(public)
    for private in (victim.customer_id, victim.email, victim.phone, e164(victim.phone), dispute_id, "stf_"):
        assert private not in shown

    admin = await staff(system, "admin")

    async def audited() -> bool:
        return bool(await audit_actions(system, "publication.publish", admin))

    await eventually_async(audited)
    (entry,) = await audit_actions(system, "publication.publish", admin)
    assert (entry["actor_role"], entry["target_id"]) == ("supervisor", notice["notice_id"])


async def test_a_bureau_that_does_not_answer_keeps_the_deletion_requested_until_it_is_sent_again(
    system: System, sms: SmsSink
) -> None:
    victim = await victim_with_line(system, sms)
    stolen = await completed_withdrawal(system, victim.customer_id, 40_000)
    opened = await dispute(system, victim, [stolen], declares_not_liable=True)
    supervisor = await staff(system, "supervisor")
    bureau(system).down = True
    relieved = await system.gateway.post(f"/v1/ops/disputes/{opened['dispute_id']}/relief", json={}, headers=supervisor)
    assert relieved.status_code == 200, relieved.text  # the relief does not wait for the bureau
    (record,) = await credit_information(system, victim.customer_id)
    assert (record["status"], record["deleted_at"]) == ("deletion_requested", None)
    assert record["record_id"] not in bureau(system).deletions

    resend = f"/v1/ops/disputes/{opened['dispute_id']}/credit-information-deletion"
    still_down = await system.gateway.post(resend, headers=supervisor)
    assert still_down.status_code == 200, still_down.text
    assert still_down.json()["records"][0]["status"] == "deletion_requested"
    analyst = await staff(system, "analyst")
    assert (await system.gateway.post(resend, headers=analyst)).status_code == 403

    bureau(system).down = False
    sent = await system.gateway.post(resend, headers=supervisor)
    assert sent.status_code == 200, sent.text
    (record,) = sent.json()["records"]
    assert (record["status"], record["deletion_dispute_id"]) == ("deleted", opened["dispute_id"])
    assert bureau(system).deletions[record["record_id"]].dispute_id == opened["dispute_id"]
    system.clock.advance(seconds=60)  # type: ignore[attr-defined]
    again = await system.gateway.post(resend, headers=supervisor)
    assert again.json()["records"] == sent.json()["records"]  # nothing sent twice, the first deletion stays
    assert len(bureau(system).deletions) == 1


async def test_an_analyst_cannot_publish_and_the_public_sees_nothing(system: System) -> None:
    analyst = await staff(system, "analyst")
    refused = await system.gateway.post("/v1/ops/publications", json=NOTICE, headers=analyst)
    assert refused.status_code == 403, refused.text
    anonymous = await system.gateway.post("/v1/ops/publications", json=NOTICE)
    assert anonymous.status_code == 401
    assert (await notices(system))["notices"] == []


@pytest.mark.parametrize(
    "leak",
    [
        "お問い合わせ: hanako.sato@example.jp",
        "被害者の連絡先 090-1234-5678",
        "被害者の連絡先 ０９０１２３４５６７８",  # full-width digits
        "連絡先 hanako＠example.jp",  # a full-width at sign
        "cus_01jd7x00000000000000000000 の口座",
    ],
)
async def test_a_notice_with_customer_data_is_refused_and_nothing_is_published(system: System, leak: str) -> None:
    supervisor = await staff(system, "supervisor")
    refused = await system.gateway.post(
        "/v1/ops/publications", json={**NOTICE, "body": NOTICE["body"] + leak}, headers=supervisor
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "customer_data_in_notice"), refused.text
    in_title = await system.gateway.post("/v1/ops/publications", json={**NOTICE, "title": leak}, headers=supervisor)
    assert (in_title.status_code, in_title.json()["code"]) == (422, "customer_data_in_notice")
    unknown = await system.gateway.post(
        "/v1/ops/publications",
        json={**NOTICE, "dispute_ids": ["dsp_00000000000000000000000000"]},
        headers=supervisor,
    )
    assert unknown.status_code == 404, unknown.text
    assert (await notices(system))["notices"] == []


@pytest.mark.usefixtures("fraud_allows")
async def test_a_withdrawal_completes_while_the_bureau_is_down_and_its_debt_is_still_recorded(
    system: System, sms: SmsSink
) -> None:
    customer = await borrower(system, sms, 300_000)
    atm = await create_partner(system, "seven-atm")
    bureau(system).down = True
    await completed(system, atm, customer.customer_id, 30_000)  # the cash is out: the bureau cannot stop that
    (record,) = await credit_information(system, customer.customer_id)
    assert (record["kind"], record["amount"], record["status"], record["reported_at"]) == (
        "debt",
        30_000,
        "reported",
        None,  # not acknowledged by the bureau
    )
    assert bureau(system).reports == {}


async def test_notices_are_listed_newest_first_and_by_language(system: System) -> None:
    supervisor = await staff(system, "supervisor")
    for title, language in (("第一報", "ja"), ("First report", "en"), ("続報", "ja")):
        system.clock.advance(seconds=60)  # type: ignore[attr-defined]
        published = await system.gateway.post(
            "/v1/ops/publications", json={**NOTICE, "title": title, "language": language}, headers=supervisor
        )
        assert published.status_code == 201, published.text
    assert [n["title"] for n in (await notices(system))["notices"]] == ["続報", "First report", "第一報"]
    japanese = await system.gateway.get("/v1/notices", params={"language": "ja", "limit": 1})
    assert [n["title"] for n in japanese.json()["notices"]] == ["続報"]
    older = await system.gateway.get("/v1/notices", params={"language": "ja", "before": japanese.json()["next"]})
    assert [n["title"] for n in older.json()["notices"]] == ["第一報"]
