"""The gateway's /openapi.json: the public contract, generated from the services' own models (sekisho/openapi.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from sekisho.openapi import DOCUMENT, build_document, public_routes, render
from services.gateway.routes import PING, RouteTable
from tests.harness import Backend, client_for, in_process_system
from tests.openapi_recorder import check

REFRESH = "run `.venv/bin/sekisho openapi` and commit services/gateway/openapi.json"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return document


def test_the_committed_document_is_what_the_services_models_generate_today() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(build_document()), (
        f"services/gateway/openapi.json is stale: {REFRESH}"
    )


def test_the_document_is_valid_openapi_3_1(committed: dict[str, Any]) -> None:
    assert committed["openapi"].startswith("3.1")
    validate(committed)  # raises, naming the first place the document breaks the OpenAPI 3.1 schema


def test_every_route_of_the_gateways_table_is_in_the_document_with_its_method(committed: dict[str, Any]) -> None:
    missing = [
        f"{route.method} {route.path}"
        for route in (*public_routes(), PING)
        if route.method.lower() not in committed["paths"].get(route.path, {})
    ]
    assert not missing, f"routes of the table not in the document ({REFRESH}): {missing}"
    operations = [op for ops in committed["paths"].values() for op in ops.values()]
    assert len(operations) >= len(public_routes()) + 1
    assert len({op["operationId"] for op in operations}) == len(operations), "operationIds must be unique"


def test_every_success_answer_is_typed(committed: dict[str, Any]) -> None:
    """A client generated from the document gets a type for every 2xx JSON body: a named model, never an open
    object or `{}` (a handler returning a plain dict). A page or a PDF is documented by its own content type."""
    untyped = [
        f"{method.upper()} {path} {status} {content_type}"
        for path, operations in committed["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        for content_type, content in answer.get("content", {}).items()
        # A model, a list of models or a union of them: each names its schema by reference.
        if "json" in content_type and "$ref" not in json.dumps(content.get("schema", {}))
    ]
    assert not untyped, f"success answers without a model (give the handler a return model): {untyped}"
    training = committed["paths"]["/v1/ops/incidents/{incident_id}/training-material"]["get"]["responses"]["200"]
    assert set(training["content"]) == {"text/html"}


def test_each_route_says_who_may_call_it(committed: dict[str, Any]) -> None:
    for route in (*public_routes(), PING):
        operation = committed["paths"][route.path][route.method.lower()]
        expected = {"customer": "customerToken", "staff": "staffToken", "partner": "partnerSignature"}.get(route.caller)
        schemes = [name for requirement in operation.get("security", []) for name in requirement]
        assert schemes == ([expected] if expected else []), f"{route.method} {route.path}"
        if route.caller == "partner":
            headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            assert {"Signature-Input", "Content-Digest"} <= headers
        if route.role is not None:
            assert operation["x-sekisho-role"] == route.role


def _codes(operation: dict[str, Any], status: str) -> set[str]:
    """Every `code` the document allows for this status (enum and const members)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list):
                found.update(node["enum"])
            if isinstance(node.get("const"), str):
                found.add(node["const"])
            if node.get("$ref") == "#/components/schemas/StepUpRequired":
                found.add("step_up_required")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(operation["responses"].get(status, {}))
    return found


def test_the_gateways_own_problems_are_documented_per_route(committed: dict[str, Any]) -> None:
    withdrawal = committed["paths"]["/v1/withdrawals"]["post"]
    assert {"step_up_required", "unauthorized"} <= _codes(withdrawal, "401")
    assert {"operation_denied", "kyc_required", "ip_denied"} <= _codes(withdrawal, "403")
    assert "operation_suspended" in _codes(withdrawal, "503")
    assert "payload_too_large" in _codes(withdrawal, "413")
    assert "rate_limited" in _codes(withdrawal, "429")
    assert "Step-Up-Grant" in {p["name"] for p in withdrawal["parameters"] if p["in"] == "header"}
    authorize = committed["paths"]["/v1/atm/withdrawals/authorize"]["post"]
    assert "signature_invalid" in _codes(authorize, "401")
    assert "step_up_required" not in _codes(authorize, "401"), "a partner never steps up"
    audit = committed["paths"]["/v1/ops/audit"]["get"]
    assert "forbidden" in _codes(audit, "403")
    assert "operation_suspended" not in _codes(audit, "503"), "staff operations cannot be switched off"
    login = committed["paths"]["/v1/auth/login"]["post"]
    assert "unauthorized" not in _codes(login, "401"), "an anonymous route never asks for a token at the gateway"
    # The gateway answers a 422 validation problem, never FastAPI's HTTPValidationError shape.
    assert "HTTPValidationError" not in json.dumps(committed)


def test_no_internal_only_header_is_public(committed: dict[str, Any]) -> None:
    text = json.dumps(committed).lower()
    assert "x-sekisho-identity" not in text
    assert "/internal/" not in json.dumps(committed["paths"])


async def test_the_gateway_serves_the_committed_document(backend: Backend, committed: dict[str, Any]) -> None:
    async with in_process_system(backend) as system:
        answer = await system.gateway.get("/openapi.json")
        assert answer.status_code == 200
        assert answer.json() == committed
        async with client_for(system.apps["auth"]) as auth:  # auth keeps its own, of its internal routes
            own = await auth.get("/openapi.json")
    assert own.status_code == 200
    assert "/internal/step-up/challenges" in own.json()["paths"]


def _problem(status: int, code: str) -> bytes:
    return json.dumps(
        {"type": f"urn:sekisho:problem:{code}", "title": "t", "status": status, "detail": "d", "code": code}
    ).encode()


def test_the_recorder_names_the_route_status_and_code_the_document_lacks() -> None:
    table = RouteTable(public_routes())
    problem = "application/problem+json"
    assert check("POST", "/v1/withdrawals", 409, problem, _problem(409, "session_used"), table) is None
    found = check("POST", "/v1/withdrawals", 409, problem, _problem(409, "made_up"), table)
    assert found == "POST /v1/withdrawals: status 409 code 'made_up' is not documented"
    found = check("GET", "/v1/ops/fraud/cases/case_1", 418, problem, _problem(418, "teapot"), table)
    assert found == "GET /v1/ops/fraud/cases/{case_id}: status 418 (code 'teapot') is not documented"
    # A body that breaks the documented schema: a problem without its members, an answer of the wrong shape.
    found = check("POST", "/v1/withdrawals", 409, problem, b'{"code": "session_used"}', table)
    assert found is not None
    assert "body does not match" in found
    found = check("GET", "/v1/me/account", 200, "application/json", b'{"credit_limit": "lots"}', table)
    assert found is not None
    assert found.startswith("GET /v1/me/account: status 200")
    # Paths outside the document, and a test's own table with a fake route on a public path, are not the contract.
    assert check("GET", "/v1/nowhere", 404, problem, _problem(404, "not_found"), table) is None
    assert check("POST", "/v1/withdrawals", 409, problem, _problem(409, "made_up"), RouteTable(())) is None
