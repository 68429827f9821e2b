"""kyc through the gateway: the in-process system, signed-in customers and staff, and images made byte by byte."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sekisho.sinks import SmsSink, SmtpSink
from services.kyc import models
from shared.clock import FrozenClock
from shared.outbox import PAYLOAD_CONTEXT
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_api_login import login
from tests.auth.test_staff import make_staff, staff_token
from tests.harness import Backend, System, in_process_system
from tests.servers import eventually

ADDRESS = "〒106-0032 東京都港区六本木1-2-3"
# Small limits keep the tests fast; the defaults are tested apart where the size matters.
KYC = {"kyc_image_max_bytes": 64 * 1024, "kyc_image_min_pixels": 320, "kyc_image_max_pixels": 8000}


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": KYC,
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        yield running


async def signed_in(
    system: System,
    sms: SmsSink,
    email: str = CUSTOMER["email"],
    phone: str = CUSTOMER["phone"],
    address: str = ADDRESS,
) -> dict[str, str]:
    """A new customer (declared address with its postal code), signed in with password and SMS: their headers."""
    await open_account(system.gateway, address=address, email=email, phone=phone)
    return await signed_in_again(system, sms, email=email, phone=phone)


async def signed_in_again(
    system: System, sms: SmsSink, email: str = CUSTOMER["email"], phone: str = CUSTOMER["phone"]
) -> dict[str, str]:
    first = await login(system.gateway, login_id=email)
    if first.status_code == 200:  # a device the customer signed in with before
        return {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert first.status_code == 401, first.text
    challenge_id = first.json()["challenge"]["id"]
    code = await code_by_sms(system, sms, challenge_id, phone=_e164(phone))
    verified = await system.gateway.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": code}
    )
    assert verified.status_code == 200, verified.text
    return {"Authorization": f"Bearer {verified.json()['access_token']}"}


async def code_by_sms(system: System, sms: SmsSink, challenge_id: str, *, phone: str) -> str:
    count = len([m for m in sms.received if m.to == phone])
    sent = await system.gateway.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text

    def new_codes() -> list[str]:
        """Codes in the messages to the phone since the send: another notice (a withdrawal's, queued earlier) may
        arrive between them and is no code."""
        later = [m for m in sms.received if m.to == phone][count:]
        return [found.group(1) for m in later if (found := re.search(r"\b(\d{6})\b", m.body))]

    await eventually(lambda: len(new_codes()) > 0)
    return new_codes()[-1]


def _e164(phone: str) -> str:
    return "+81" + phone.replace("-", "")[1:]


async def staff_headers(system: System, login_id: str, role: str) -> dict[str, str]:
    token = await staff_token(system, await make_staff(system, login_id, role))
    return {"Authorization": f"Bearer {token}"}


def png(width: int = 640, height: int = 480, *, padding: int = 0) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = chunk(b"tEXt", b"pad\0" + b"x" * padding) if padding else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int = 640, height: int = 480) -> bytes:
    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    app0 = segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    sof = segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01")
    sos = segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
    return b"\xff\xd8" + app0 + sof + sos + b"\x12\x34\x56\x78" * 16 + b"\xff\xd9"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ekyc_body(**images: bytes) -> dict[str, Any]:
    chosen = {"front": jpeg(), "back": jpeg(), "thickness": jpeg(), "selfie": png(), **images}
    return {
        "method": "ekyc",
        "document_type": "driving_licence",
        "images": {kind: b64(data) for kind, data in chosen.items()},
    }


async def kyc_rows(system: System, table: Any) -> list[Any]:
    state = system.apps["kyc"].state.service
    async with state.database.transaction() as session:
        return list((await session.execute(select(table))).all())


async def kyc_messages(system: System, destination: str) -> list[dict[str, Any]]:
    """What kyc queued for another service (its outbox, opened)."""
    state = system.apps["kyc"].state.service
    rows = await kyc_rows(system, models.outbox)
    return [
        json.loads(state.cipher.open(row.payload, context=PAYLOAD_CONTEXT))
        for row in rows
        if row.destination == destination
    ]


async def start(system: System, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await system.gateway.post("/v1/kyc/verifications", json=body, headers=headers)
