"""Seed 1, the smartphone-ATM case, replayed end to end over HTTP (seeds/000, 不正取引等事案の発生).

Criminals held a borrower's login id and password, signed in to the lender's app on their own phones, and took loans
out as cash at convenience-store ATMs with no card (スマホATM). Here each step fails where the guideline puts the stop
(JFSA 2(2): login ① MFA, ② notice, ③ lockout; withdrawal MFA, AUTH-WD-1), and the borrower hears of every attempt:
- the password on the criminal's phone gets no session: a code is needed, and it goes to the borrower's phone; the
  borrower is told by e-mail at once that their password was typed on a device they never confirmed;
- guessed codes lock the criminal's side of the account, and the borrower is told of the lock;
- at the ATM, with no withdrawal the app asked for, the codes the criminal enters are declined;
- with the borrower's own session stolen, the withdrawal still needs a code from the borrower's phone (an e-mail
  code is refused), and the code message names the amount: no cash, no hold, no debt; the books balance.
"""

from __future__ import annotations

import re

from sekisho.sinks import SmsSink, SmtpSink
from services.txn import credit_lines
from tests.auth.conftest import CUSTOMER
from tests.auth.test_api_login import login
from tests.harness import System
from tests.kyc.conftest import signed_in_again
from tests.servers import eventually
from tests.txn.atm_network import books_check, borrower, create_partner, e164, holds, txn_runtime

CRIMINALS_PHONE = "criminal-phone-0001"
PASSWORD_WARNING = "新しい端末でお客さまのパスワードが入力されました"


async def test_a_stolen_password_on_the_criminals_phone_takes_no_cash_and_the_borrower_hears_of_each_attempt(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    hanako = await borrower(system, sms, 500_000)  # verified, a 500,000-yen line, signed in on her own phone
    atm = await create_partner(system, "seven-atm")
    phone = e164(hanako.phone)
    system.clock.advance(hours=2)  # type: ignore[attr-defined]  # the criminal comes later (a fresh hour of notices)

    def to_hanakos_phone() -> list[str]:
        return [m.body for m in sms.received if m.to == phone]

    def to_hanakos_inbox() -> list[str]:
        return [m.get_content() for m in smtp.to(CUSTOMER["email"])]

    # 1. The stolen id and password on the criminal's phone: no token, a code asked for, Hanako told by e-mail.
    inbox_before = len(to_hanakos_inbox())
    first = await login(system.gateway, device=CRIMINALS_PHONE)
    assert (first.status_code, first.json()["code"]) == (401, "mfa_required"), first.text
    assert "access_token" not in first.text
    await eventually(lambda: any(PASSWORD_WARNING in body for body in to_hanakos_inbox()[inbox_before:]))

    # 2. The code goes to Hanako's phone, not the criminal's; five guesses kill the challenge and lock the
    #    criminal's side of the account (wrong codes count across challenges), and Hanako is told of the lock.
    challenge_id = first.json()["challenge"]["id"]
    texts_before = len(to_hanakos_phone())
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text
    await eventually(lambda: len(to_hanakos_phone()) > texts_before)
    assert "ログインの確認コード" in to_hanakos_phone()[-1]  # she hears that someone is signing in
    real = re.search(r"\b(\d{6})\b", to_hanakos_phone()[-1])
    assert real is not None
    guesses = [f"{(int(real.group(1)) + n) % 1_000_000:06d}" for n in range(1, 6)]
    for guess in guesses:
        wrong = await system.gateway.post(
            f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": guess}
        )
        assert wrong.status_code == 401, wrong.text
    again = await login(system.gateway, device=CRIMINALS_PHONE)
    assert (again.status_code, again.json()["code"]) == (423, "account_locked"), again.text
    await eventually(lambda: any("ロック" in body for body in to_hanakos_inbox()))

    # 3. At the convenience store: the ATM shows its QR, but no app asked for a withdrawal there; the codes the
    #    criminal tries are declined, and nothing is held.
    opened = await atm.open_session("AT-KONBINI-01")
    for guess in ("000000", "123456", real.group(1)):
        tried = await atm.authorize(opened["session_id"], guess, 100_000)
        assert tried.status_code == 200, tried.text
        assert (tried.json()["decision"], tried.json()["reason_code"]) == ("declined", "withdrawal_not_found")

    # 4. Even with Hanako's own session stolen (malware on her phone), the withdrawal asks for a fresh code from her
    #    phone, bound to this QR and amount: an e-mail code is refused, the SMS names the amount, nothing moves.
    stolen = await signed_in_again(system, sms, email=hanako.email, phone=hanako.phone)  # her own phone still works
    asked = await system.gateway.post("/v1/withdrawals", json={"qr": opened["qr"], "amount": 100_000}, headers=stolen)
    assert (asked.status_code, asked.json()["code"]) == (401, "step_up_required"), asked.text
    challenge = asked.json()["challenge"]
    assert "email" not in challenge["methods"]
    by_mail = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "email"})
    assert by_mail.status_code in (409, 422), by_mail.text  # no e-mail code for a withdrawal (AUTH-WD-1)
    texts_before = len(to_hanakos_phone())
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text
    await eventually(lambda: len(to_hanakos_phone()) > texts_before)
    assert "100,000" in to_hanakos_phone()[-1]  # the message names the cash asked for: Hanako knows it is not her
    without = await system.gateway.post(
        "/v1/withdrawals",
        json={"qr": opened["qr"], "amount": 100_000},
        headers={**stolen, "Step-Up-Grant": "grant-the-criminal-does-not-have"},
    )
    assert without.status_code == 401, without.text

    # Nothing moved: no debt, no hold, the books balance.
    async with txn_runtime(system).database.reading() as session:  # what GET /v1/me/account would show her
        seen = await credit_lines.summary(session, hanako.customer_id)
    assert (seen.outstanding, seen.held, seen.available) == (0, 0, 500_000)
    assert await holds(system, hanako.customer_id) == []
    assert (await books_check(system)).balanced
