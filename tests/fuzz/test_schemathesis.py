"""SEC-5: schemathesis generates requests for every operation of the gateway's public /openapi.json (valid ones and
invalid ones, from the document alone) and sends them to the running system, signed in where the document says a
route needs it: a customer's bearer token, a staff member's (an admin, whom every staff route admits) and a partner's
RFC 9421 signature (tests/fuzz/hooks.py). No answer may be a server error.

Bounded: SEKISHO_FUZZ_EXAMPLES generated cases per operation (default 5) besides schemathesis' coverage phase (the
boundary and malformed values of each parameter), from a fixed seed (SEKISHO_FUZZ_SEED) so that a failure replays.
SEKISHO_FUZZ_CHECKS names schemathesis' checks: by default no 5xx, and every answer's status, problem code, body and
content type as the document describes them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fuzz.conftest import Running
from tests.fuzz.hooks import PARTNER_SCHEME

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("SEKISHO_FUZZ_EXAMPLES", "5"))
SEED = os.environ.get("SEKISHO_FUZZ_SEED", "18")
CHECKS = os.environ.get(
    "SEKISHO_FUZZ_CHECKS",
    "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
)
# What can end the sessions the other operations run with, or shut the door on everything after it, goes last, in a
# run of its own: signing out, a device removed (its sessions end), a password changed, staff ending or locking a
# customer's sessions, an incident's containment (it can end every session), and the controls that switch operations
# off or deny addresses, devices or rule sets (an IP rule over 127.0.0.1 would refuse the rest of the run). Schemathesis
# learns ids from answers (the fuzz customer's own from GET /v1/me) and uses them, so these do reach the run's own.
DISRUPTIVE = (
    r"(/logout|/me/devices/\{device_id\}|/me/password|/sessions/revoke|/lock|/containment"
    r"|/kill-switches/\{operation\}|/ip-rules|/lists/\{list\}/entries|/activate)$"
)
# The customer's and the staff member's tokens, by the document's security scheme names.
BEARERS = {"customer": "SEKISHO_FUZZ_CUSTOMER_TOKEN", "staff": "SEKISHO_FUZZ_STAFF_TOKEN"}


def _config(document: dict[str, Any], where: Path) -> Path:
    """schemathesis.toml: each bearer scheme of the document gets its token (from the environment, so that no token
    is written down), the partner scheme is signed by the hook."""
    schemes = document["components"]["securitySchemes"]
    lines = []
    for name, scheme in schemes.items():
        if scheme.get("scheme") != "bearer":
            assert name == PARTNER_SCHEME, name  # the only other kind: signed in tests/fuzz/hooks.py
            continue
        (variable,) = [variable for who, variable in BEARERS.items() if who in name.lower()]
        lines += [f"[auth.openapi.{name}]", f'bearer = "${{{variable}}}"']
    assert len(lines) == 2 * len(BEARERS), schemes  # a customer's and a staff member's, no other
    path = where / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _fuzz(running: Running, config: Path, report: Path, *selection: str) -> subprocess.CompletedProcess[str]:
    credentials = running.credentials
    env = {
        **os.environ,
        BEARERS["customer"]: credentials.customer_token,
        BEARERS["staff"]: credentials.staff_token,
        "SEKISHO_FUZZ_PARTNER_KEY_ID": credentials.partner_key_id,
        "SEKISHO_FUZZ_PARTNER_SECRET": credentials.partner_secret,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", running.gateway + "/openapi.json",
        "--checks", CHECKS, "--max-examples", str(EXAMPLES), "--seed", SEED,
        "--phases", "examples,coverage,fuzzing", "--workers", "2", "--request-timeout", "20",
        "--suppress-health-check", "all", "--report", "junit", "--report-junit-path", str(report),
        *selection,
    ]  # fmt: skip
    return subprocess.run(command, env=env, cwd=report.parent, capture_output=True, text=True, timeout=600, check=False)


def _tested(report: Path) -> dict[str, int]:
    """Operation -> failures, from schemathesis' JUnit report (one test case per operation)."""
    cases = ElementTree.parse(report).getroot().iter("testcase")  # noqa: S314 - the report schemathesis just wrote
    return {case.get("name", ""): len(case.findall("failure")) + len(case.findall("error")) for case in cases}


@pytest.mark.req("SEC-5")
def test_every_public_operation_fuzzed_through_the_gateway_answers_no_server_error(
    running: Running, tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    document = httpx.get(running.gateway + "/openapi.json", timeout=30).json()
    operations = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }
    assert len(operations) > 100  # the whole public API, not the gateway's own handful
    config = _config(document, tmp_path)

    runs = [_fuzz(running, config, tmp_path / "most.xml", "--exclude-path-regex", DISRUPTIVE)]
    # The credentials held through the whole run (nothing it sent ended their sessions), so the routes behind them
    # were reached with a live session all along.
    for path, token in (
        ("/v1/me", running.credentials.customer_token),
        ("/v1/ops/audit", running.credentials.staff_token),
    ):
        still = httpx.get(running.gateway + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert still.status_code == 200, (path, still.text)
    runs.append(_fuzz(running, config, tmp_path / "disruptive.xml", "--include-path-regex", DISRUPTIVE))
    for ran in runs:
        assert ran.returncode == 0, ran.stdout[-12000:] + ran.stderr[-4000:]
    tested = {**_tested(tmp_path / "most.xml"), **_tested(tmp_path / "disruptive.xml")}
    assert set(tested) == operations  # every operation of the document was run, none of it skipped
    assert sum(tested.values()) == 0
    summaries = "\n".join(ran.stdout for ran in runs)
    generated = [int(found) for found in re.findall(r"^\s*(\d+) generated", summaries, flags=re.MULTILINE)]
    assert len(generated) == len(runs)
    report_figure(f"{len(operations)} operations, {sum(generated)} test cases, 0 server errors (checks: {CHECKS})")
