"""Issue 13 item 5: only the customer's own devices count as "known" for lockout.

Before: a login from the /24 a trusted device of the customer last used counted as known, so a stranger next to the
customer's phone (the same carrier NAT, the same office) failed on the known side, and locked the phone out.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from sekisho.sinks import SmsSink
from tests.auth.conftest import open_account
from tests.auth.test_api_login import code_by_sms, login
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import System


def from_address(system: System, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(system.apps["gateway"], client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_a_stranger_on_the_same_network_as_the_trusted_phone_cannot_lock_the_phone_out(
    system: System, sms: SmsSink
) -> None:
    customer_id = await open_account(system.gateway)
    async with from_address(system, "203.0.113.10") as phone, from_address(system, "203.0.113.99") as stranger:
        first = await login(phone)  # the customer's phone completes a login: it is trusted from now on
        challenge_id = first.json()["challenge"]["id"]
        code = await code_by_sms(system, sms, challenge_id)
        verified = await phone.post(f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code})
        assert verified.status_code == 200, verified.text

        answers = [
            (await login(stranger, password=f"Next-Door-{i}-Pw", device="neighbour-device-01")).status_code
            for i in range(10)
        ]
        assert answers[4] == 423  # the stranger locks strangers out
        assert (await login(stranger, device="neighbour-device-01")).status_code == 423
        own = await login(phone)
        assert own.status_code == 200, own.text  # the phone still logs in

        # The desk sees both: the customer's own devices work, devices never used before are locked (until when).
        analyst = await staff_token(system, await make_staff(system, "desk-analyst", "analyst"))
        seen = await system.gateway.get(
            f"/v1/ops/customers/{customer_id}", headers={"Authorization": f"Bearer {analyst}"}
        )
        assert seen.status_code == 200, seen.text
        view = seen.json()
        assert (view["locked"], view["locked_until"]) == (False, None)
        assert view["new_devices_locked"] is True
        assert datetime.fromisoformat(view["new_devices_locked_until"]) > system.clock.now()


async def test_both_sides_locking_in_the_same_second_both_answer_423(system: System, sms: SmsSink) -> None:
    """The lock notice's key names the second and the kind of lock: the second side's lock used to insert the same
    key again and fail its login with a 500 instead of 423."""
    await open_account(system.gateway)
    async with from_address(system, "203.0.113.10") as phone, from_address(system, "203.0.113.99") as stranger:
        first = await login(phone)
        challenge_id = first.json()["challenge"]["id"]
        code = await code_by_sms(system, sms, challenge_id)
        verified = await phone.post(f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code})
        assert verified.status_code == 200, verified.text

        # The clock stands still: every failure below falls in one second.
        strangers = [
            (await login(stranger, password=f"Next-Door-{i}-Pw", device="neighbour-device-01")).status_code
            for i in range(6)
        ]
        own = [(await login(phone, password=f"Own-Typo-{i}-Pw")).status_code for i in range(6)]
        assert 500 not in strangers + own, (strangers, own)
        assert (strangers[-1], own[-1]) == (423, 423), (strangers, own)
