"""A frontend generates its client from the gateway's /openapi.json with a real generator (openapi-python-client, as
published on PyPI) and signs a customer in with it: the document is complete and correct enough to be used, not only
read. The generated package is imported and called against the running system; its answers are its typed models."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import typing
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.fuzz.conftest import Running
from tests.fuzz.system import Customer, login_body, new_customer, sms_code

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

PACKAGE = "sekisho_client"


@pytest.fixture(scope="module")
def generated(running: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated from the document the running gateway serves, importable for the module."""
    where = tmp_path_factory.mktemp("client")
    served = httpx.get(running.gateway + "/openapi.json", timeout=30)
    assert served.status_code == 200, served.text
    (where / "openapi.json").write_text(served.text)
    # No post hooks: the generator would otherwise run ruff over the output, which changes nothing it runs.
    (where / "config.json").write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    made = subprocess.run(
        [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(where / "openapi.json"), "--config", str(where / "config.json"),
            "--meta", "none", "--output-path", str(where / PACKAGE),
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-4000:] + made.stderr[-4000:]
    # Without a single warning: every operation and every answer is in the client. (Once the step-up 401 was dropped
    # from 28 routes, its `const` code unreadable, and two operations left out over two schemas titled alike.)
    assert "Warning" not in made.stdout + made.stderr, made.stdout[-4000:]
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def operation(package: ModuleType, tag: str, operation_id: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.api.{tag}.{operation_id}")


def body_model(module: ModuleType) -> Any:
    """The request model the generated function takes (its name is the generator's business, not this test's)."""
    return typing.get_type_hints(module.sync_detailed)["body"]


def test_the_generated_client_signs_a_customer_in_through_the_mfa_challenge_and_reads_a_step_up(
    running: Running, generated: ModuleType
) -> None:
    customer = new_customer(running.gateway)
    with generated.Client(base_url=running.gateway, raise_on_unexpected_status=True) as client:
        tokens = _login(running, generated, client, customer)
    # The access token works as the generated AuthenticatedClient sends it.
    with generated.AuthenticatedClient(base_url=running.gateway, token=tokens["access_token"]) as signed_in:
        me = operation(generated, "auth", "get_v1_me").sync_detailed(client=signed_in)
        assert me.status_code == 200, me.content
        assert type(me.parsed).__module__.startswith(f"{PACKAGE}.models."), type(me.parsed)
        assert me.parsed.to_dict()["email"] == customer.login_id
        # A sensitive operation asks for a step-up: the generated client reads it as the document's StepUpRequired,
        # with the challenge to answer.
        codes = operation(generated, "auth", "post_v1_me_recovery_codes").sync_detailed(client=signed_in)
    assert codes.status_code == 401, codes.content
    assert type(codes.parsed).__name__ == "StepUpRequired", type(codes.parsed)
    assert codes.parsed.code.value == "step_up_required"
    assert codes.parsed.challenge.id.startswith("chl_")


def _login(running: Running, generated: ModuleType, client: Any, customer: Customer) -> dict[str, Any]:
    login = operation(generated, "auth", "post_v1_auth_login")
    request = body_model(login).from_dict

    wrong = login.sync_detailed(client=client, body=request({**login_body(customer), "password": "Wrong-pass-9!"}))
    assert wrong.status_code == 401
    assert wrong.parsed.code.value == "invalid_credentials"  # a typed problem: its code is the document's enum

    first = login.sync_detailed(client=client, body=request(login_body(customer)))
    assert first.status_code == 401
    problem = first.parsed
    assert type(problem).__name__.endswith("Response401")
    assert (problem.status, problem.code.value) == (401, "mfa_required")
    challenge = problem.additional_properties["challenge"]  # what the MFA problem carries beyond the RFC 9457 fields

    send = operation(generated, "auth", "post_v1_auth_challenges_challenge_id_send")
    already = len([message for message in list(running.sms.received) if message.to == customer.phone])
    sent = send.sync_detailed(challenge["id"], client=client, body=body_model(send).from_dict({"method": "sms"}))
    assert sent.status_code == 202, sent.content

    verify = operation(generated, "auth", "post_v1_auth_challenges_challenge_id_verify")
    code = sms_code(running.sms, customer.phone, already)
    verified = verify.sync_detailed(
        challenge["id"], client=client, body=body_model(verify).from_dict({"method": "sms", "code": code})
    )
    assert verified.status_code == 200, verified.content
    tokens = verified.parsed
    # A generated model, not a bare dict: the document declares the answer's shape (its schema `Tokens`).
    assert type(tokens).__module__.startswith(f"{PACKAGE}.models."), type(tokens)
    assert isinstance(tokens.access_token, str)
    assert isinstance(tokens.refresh_token, str)
    answer: dict[str, Any] = tokens.to_dict()
    return answer
