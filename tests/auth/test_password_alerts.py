"""A stolen password typed into a stranger's phone (seed 1): no token, and the customer hears of it at once by e-mail,
whether or not the stranger ever asks for the code; repeated tries within the hour are one notice, the next hour
another."""

from __future__ import annotations

import asyncio

from sekisho.sinks import SmsSink, SmtpSink
from tests.auth.conftest import CUSTOMER, open_account
from tests.auth.test_api_login import full_login, login
from tests.harness import System
from tests.servers import eventually

WARNING = "新しい端末でお客さまのパスワードが入力されました"


def warnings(smtp: SmtpSink) -> list[str]:
    return [body for m in smtp.to(CUSTOMER["email"]) if WARNING in (body := m.get_content())]


async def test_the_password_on_a_strangers_phone_gets_no_token_and_the_customer_is_told(
    system: System, smtp: SmtpSink, sms: SmsSink
) -> None:
    await open_account(system.gateway)
    await full_login(system, sms)  # the customer's own phone, confirmed with SMS
    await eventually(lambda: len(warnings(smtp)) == 1)  # their own first login on that phone was told too
    for attempt in range(3):
        stranger = await login(system.gateway, device=f"attacker-phone-{attempt}")
        assert stranger.status_code == 401, stranger.text
        assert stranger.json()["code"] == "mfa_required"
        assert "access_token" not in stranger.text
    system.clock.advance(hours=1)  # type: ignore[attr-defined]
    again = await login(system.gateway, device="attacker-phone-9")
    assert again.status_code == 401
    await eventually(lambda: len(warnings(smtp)) == 2)
    await asyncio.sleep(0.3)  # a third notice, were one sent for the repeated tries, would have arrived by now
    assert len(warnings(smtp)) == 2
    known = await login(system.gateway)  # the customer's own confirmed phone: no warning
    assert known.status_code == 200
    await asyncio.sleep(0.3)
    assert len(warnings(smtp)) == 2
    assert not [m for m in sms.received if "パスワードが入力" in m.body]  # the phone gets the codes alone
