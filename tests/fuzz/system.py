"""A whole sekisho (`sekisho up`, six processes) on PostgreSQL for the tests of the public API against its own
/openapi.json, and the credentials a client of that API holds: a customer's and a staff member's access tokens, and
a partner's signing key."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from sekisho.launcher import LaunchedSystem, signed_in_staff
from sekisho.sinks import SmsSink
from shared.clock import SystemClock
from shared.identity import IdentityIssuer
from shared.ids import new_id
from shared.middleware import IDENTITY_HEADER

CODE = re.compile(r"\b(\d{6})\b")
# Long enough for one whole run of the fuzzer (the default is 300 s; the gateway caps a token's life at this).
TOKEN_TTL_SECONDS = 3600


def environment(sms: SmsSink) -> dict[str, str]:
    """What the system runs with besides its database: no rate limits (the fuzzer sends thousands of requests from
    one address: it would test the 429 alone), tokens that outlive the run, SMS codes to a sink the tests read."""
    return {
        "SEKISHO_RATE_LIMITS": "[]",
        "SEKISHO_ACCESS_TOKEN_TTL_SECONDS": str(TOKEN_TTL_SECONDS),
        "SEKISHO_SMS_URL": sms.url,
    }


@dataclass(frozen=True)
class Customer:
    customer_id: str
    login_id: str
    password: str
    phone: str
    device_id: str


def new_customer(gateway: str) -> Customer:
    """An account opened through the gateway, as a customer does."""
    digits = f"{secrets.randbelow(10**8):08d}"
    login_id = f"fuzz.{secrets.token_hex(4)}@example.jp"
    password = f"Yuzu-Kaede-{secrets.token_hex(3)}!"
    opened = httpx.post(
        gateway + "/v1/accounts",
        json={
            "email": login_id,
            "phone": f"090-{digits[:4]}-{digits[4:]}",
            "name": "試験 太郎",
            "name_kana": "シケン タロウ",
            "birth_date": "1985-03-15",
            "address": "東京都千代田区丸の内1-1-1",
            "password": password,
        },
        timeout=30,
    )
    if opened.status_code != 201:
        raise RuntimeError(f"account not opened: {opened.status_code} {opened.text}")
    return Customer(
        customer_id=opened.json()["customer_id"],
        login_id=login_id,
        password=password,
        phone="+8190" + digits,
        device_id=f"fuzz-device-{secrets.token_hex(4)}",
    )


def login_body(customer: Customer) -> dict[str, str]:
    return {"login_id": customer.login_id, "password": customer.password, "device_id": customer.device_id}


def sms_code(sms: SmsSink, phone: str, after: int, timeout: float = 20.0) -> str:
    """The code of the first SMS to `phone` past the first `after` ones."""
    deadline = time.monotonic() + timeout
    while True:
        messages = [message for message in list(sms.received) if message.to == phone]
        if len(messages) > after:
            found = CODE.search(messages[after].body)
            if found is None:
                raise RuntimeError(f"no code in {messages[after].body!r}")
            return found.group(1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no SMS reached {phone} within {timeout:.0f} s")
        time.sleep(0.05)


def customer_tokens(gateway: str, sms: SmsSink, customer: Customer) -> dict[str, Any]:
    """A login with the password, then the SMS code the challenge sends: the tokens a signed-in customer holds."""
    first = httpx.post(gateway + "/v1/auth/login", json=login_body(customer), timeout=30)
    if first.status_code == 200:
        tokens: dict[str, Any] = first.json()
        return tokens
    if first.status_code != 401 or first.json().get("code") != "mfa_required":
        raise RuntimeError(f"login: {first.status_code} {first.text}")
    challenge = first.json()["challenge"]
    already = len([message for message in list(sms.received) if message.to == customer.phone])
    sent = httpx.post(gateway + f"/v1/auth/challenges/{challenge['id']}/send", json={"method": "sms"}, timeout=30)
    if sent.status_code != 202:
        raise RuntimeError(f"challenge send: {sent.status_code} {sent.text}")
    verified = httpx.post(
        gateway + f"/v1/auth/challenges/{challenge['id']}/verify",
        json={"method": "sms", "code": sms_code(sms, customer.phone, already)},
        timeout=30,
    )
    if verified.status_code != 200:
        raise RuntimeError(f"challenge verify: {verified.status_code} {verified.text}")
    answer: dict[str, Any] = verified.json()
    return answer


@dataclass(frozen=True)
class Credentials:
    customer_token: str
    staff_token: str
    partner_key_id: str
    partner_secret: str


def verify_identity(system: LaunchedSystem, customer_id: str) -> None:
    """Tell auth the customer's identity is verified, as kyc's relay does once a verification passes: the routes that
    need it (bank links, charges, withdrawals) then get past the KYC gate to their own checks."""
    kyc = IdentityIssuer(service="kyc", key=system.identity_key("kyc"), clock=SystemClock())
    told = httpx.put(
        system.urls["auth"] + f"/internal/customers/{customer_id}/kyc",
        json={"status": "verified", "verification_id": new_id("kyv"), "method": "ekyc", "reason": "fuzz"},
        headers={IDENTITY_HEADER: kyc.issue("auth")},
        timeout=30,
    )
    if told.status_code != 200:
        raise RuntimeError(f"kyc status: {told.status_code} {told.text}")


def credentials(system: LaunchedSystem, sms: SmsSink) -> Credentials:
    gateway = system.urls["gateway"]
    opened = new_customer(gateway)
    verify_identity(system, opened.customer_id)
    customer = customer_tokens(gateway, sms, opened)
    # An admin: every staff route is open to it (the analyst's and supervisor's too), so each is really exercised.
    staff = signed_in_staff(system, f"fuzz.admin.{secrets.token_hex(3)}", "admin")
    made = subprocess.run(
        [sys.executable, "-m", "sekisho.cli", "partner", "create", f"fuzz-atm-{secrets.token_hex(3)}", "--json"],
        env=system.env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    partner = json.loads(made.stdout)
    return Credentials(customer["access_token"], staff, partner["key_id"], partner["secret"])
