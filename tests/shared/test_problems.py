"""Every failure is an RFC 9457 problem document with a stable code."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from shared.problems import PROBLEM_CONTENT_TYPE, Problem, install_problem_handlers
from tests.harness import client_for


class Application(BaseModel):
    email: str = Field(pattern=r"^[^@]+@[^@]+$")
    birth_date: date
    amount: int = Field(gt=0)


def problem_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/apply")
    async def apply(body: Application) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/locked")
    async def locked() -> None:
        raise Problem("The account is locked.", code="account_locked", status=423, retry_after_seconds=30)

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internal detail")

    return app


async def test_a_domain_problem_renders_with_its_code_status_and_extra_fields() -> None:
    async with client_for(problem_app()) as client:
        response = await client.get("/locked")
    assert response.status_code == 423
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json() == {
        "type": "urn:sekisho:problem:account_locked",
        "title": "Locked",
        "status": 423,
        "detail": "The account is locked.",
        "code": "account_locked",
        "retry_after_seconds": 30,
    }


async def test_validation_lists_every_violation() -> None:
    async with client_for(problem_app()) as client:
        response = await client.post("/apply", json={"email": "nope", "birth_date": "yesterday", "amount": -5})
    body = response.json()
    assert response.status_code == 422
    assert body["code"] == "validation_failed"
    assert sorted(v["field"] for v in body["violations"]) == ["amount", "birth_date", "email"]
    assert all(set(v) == {"field", "code", "message"} for v in body["violations"])


async def test_a_body_that_is_not_json_is_a_validation_problem() -> None:
    async with client_for(problem_app()) as client:
        response = await client.post("/apply", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/nowhere", 404, "not_found"), ("DELETE", "/locked", 405, "method_not_allowed")],
)
async def test_routing_failures_are_problems(method: str, path: str, status: int, code: str) -> None:
    async with client_for(problem_app()) as client:
        response = await client.request(method, path)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE


async def test_a_crash_is_a_500_problem_that_reveals_nothing() -> None:
    async with client_for(problem_app()) as client:
        response = await client.get("/crash")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "secret internal detail" not in response.text
