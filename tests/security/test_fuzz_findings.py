"""What `make fuzz` (schemathesis against the gateway's /openapi.json, tests/fuzz) found answering 500, each now a
clear 422 problem that changes nothing: through the gateway, on SQLite and on PostgreSQL (where both failed)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.fraud.rule_sets_api import VERSION_MAX
from shared.nul_characters import NulCharacterMiddleware, nul_in_json, nul_in_query
from tests.fraud.test_ops_api import staff
from tests.harness import System

RULE_SETS = "/v1/ops/fraud/rule-sets"


def assert_nul_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_failed"
    assert [(v["field"], v["code"]) for v in body["violations"]] == [(field, "nul_character")]


async def test_a_rule_set_version_past_the_column_is_a_422_not_a_500(system: System) -> None:
    """POST /v1/ops/fraud/rule-sets/117449690891301978112/activate: the version did not fit PostgreSQL's INTEGER and
    the driver's error was a 500. Now past 2**31-1 it is no version (422, before any query); at the bound, none yet."""
    _, admin = await staff(system, "admin.fuzz", "admin")
    before = (await system.gateway.get(RULE_SETS, headers=admin)).json()
    for version in (VERSION_MAX + 1, 117449690891301978112, 0, -1):
        for method, path, body in (
            ("POST", f"{RULE_SETS}/{version}/activate", None),
            ("GET", f"{RULE_SETS}/{version}", None),
            (
                "POST",
                f"{RULE_SETS}/{version}/backtest",
                {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
            ),
        ):
            response = await system.gateway.request(method, path, json=body, headers=admin)
            assert response.status_code == 422, (method, path, response.text)
            assert response.json()["code"] == "validation_failed"
            assert response.json()["violations"][0]["field"] == "version"
    at_bound = await system.gateway.post(f"{RULE_SETS}/{VERSION_MAX}/activate", headers=admin)
    assert (at_bound.status_code, at_bound.json()["code"]) == (404, "rule_set_not_found")
    # Nothing changed: the same versions, the same live one.
    assert (await system.gateway.get(RULE_SETS, headers=admin)).json() == before


async def test_a_nul_in_a_query_a_path_or_a_body_is_a_422_not_a_500(system: System) -> None:
    """GET /v1/ops/incidents?cursor=<…\\x00…>: PostgreSQL's text cannot hold NUL and the driver's error was a 500.
    Every service now refuses a NUL at the door, wherever it is in the request."""
    _, admin = await staff(system, "admin.fuzz", "admin")
    found = await system.gateway.get("/v1/ops/incidents", params={"cursor": "Õ¬\x00÷6"}, headers=admin)
    assert_nul_refused(found, "query")
    assert_nul_refused(await system.gateway.get("/v1/ops/incidents?status=open%00", headers=admin), "query")
    assert_nul_refused(await system.gateway.get("/v1/ops/incidents/inc%00x", headers=admin), "path")
    comment = await system.gateway.post(
        "/v1/ops/incidents",
        content=b'{"title": "a\\u0000b", "severity": "high", "summary": "x"}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert_nul_refused(comment, "body")
    assert (await system.gateway.get("/v1/ops/incidents", headers=admin)).json()["incidents"] == []
    # The same request without the NUL gets past the guard to the route's own checks.
    fine = await system.gateway.get("/v1/ops/incidents", params={"cursor": "Õ¬÷6"}, headers=admin)
    assert fine.status_code != 500, fine.text


@pytest.mark.parametrize(
    ("body", "nul"),
    [
        (b'{"a": "\\u0000"}', True),
        (b'{"a": "x\\\\\\u0000"}', True),  # an escaped backslash, then the NUL escape
        (b'{"a": "\\\\u0000"}', False),  # a backslash and the five characters u0000: no NUL
        (b'{"a": "u0000"}', False),
        (b'{"\\u0000": 1}', True),  # in a key too
    ],
)
def test_nul_in_json_reads_escapes_as_json_does(body: bytes, nul: bool) -> None:
    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [*value, *(text for item in value.values() for text in strings(item))]
        return [value] if isinstance(value, str) else []

    assert nul_in_json(body) is nul
    assert any("\x00" in text for text in strings(json.loads(body))) is nul  # what the parser makes of it


def test_nul_in_query_catches_raw_and_percent_encoded() -> None:
    assert nul_in_query(b"cursor=%00")
    assert nul_in_query(b"a=b&cursor=x\x00")
    assert not nul_in_query(b"cursor=%2500")  # "%00" as text: the characters %, 0, 0
    assert not nul_in_query(b"cursor=abc")


async def test_the_guard_hands_a_clean_body_on_unchanged() -> None:
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guarded = httpx.AsyncClient(transport=httpx.ASGITransport(app=NulCharacterMiddleware(app)), base_url="http://t")
    async with guarded:
        response = await guarded.post("/x", content=b'{"a": "\\\\u0000"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 204
    assert seen == [b'{"a": "\\\\u0000"}']
