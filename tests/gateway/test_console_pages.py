"""The ops console's files at /ops/: the page and its modules with their content types and a strict
Content-Security-Policy (no inline script or style, this origin only), nothing else of the gateway's folder, and no
code in them that writes strings into markup. The browser tests are in tests/ops_console/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import get_args

import pytest

from services.fraud.incident_reports import ReportKind
from services.fraud.incidents import EntryKind, IncidentKind, Status
from services.gateway.console_pages import CONSOLE, CONSOLE_POLICY
from shared.channels import CHANNELS
from tests.harness import Backend, System, in_process_system

CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


@pytest.fixture
async def system(backend: Backend) -> AsyncIterator[System]:
    async with in_process_system(backend) as running:
        yield running


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


async def test_the_console_page_and_its_files_are_served_with_a_strict_policy(system: System) -> None:
    page = await system.gateway.get("/ops/")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "blob:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["require-trusted-types-for"] == ["'script'"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert "'unsafe-eval'" not in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every script is a file of its own; no inline script, style element or style attribute.
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts == ['<script type="module" src="/ops/app.js">']
    assert "<style" not in page.text
    assert "style=" not in page.text
    assert re.search(r"\son[a-z]+=", page.text) is None

    served = sorted(path.name for path in CONSOLE.iterdir())
    assert {"index.html", "app.js", "api.js", "console.css"} <= set(served)
    for name in served:
        answer = await system.gateway.get(f"/ops/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].split(";")[0] == CONTENT_TYPES[(CONSOLE / name).suffix], name
        assert answer.headers["content-security-policy"] == CONSOLE_POLICY, name
        assert answer.content == (CONSOLE / name).read_bytes()

    moved = await system.gateway.get("/ops", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/ops/")
    # The API's answers keep the policy of JSON (nothing may run from them).
    assert directives((await system.gateway.get("/healthz")).headers["content-security-policy"])["default-src"] == [
        "'none'"
    ]


async def test_nothing_but_the_console_files_is_served(system: System) -> None:
    for path in (
        "/ops/console_pages.py",
        "/ops/..%2fapp.py",
        "/ops/%2e%2e/app.py",
        "/ops/../app.py",
        "/ops/missing.js",
        "/ops/APP.JS",
        "/ops/app.js.map",
        "/ops/.hidden.js",
        "/ops/console/app.js",
    ):
        answer = await system.gateway.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "not_found", path
        assert "import" not in answer.text, path


def test_the_console_code_never_writes_strings_into_markup() -> None:
    """Customer data must never become markup: the pages build elements with DOM calls and text nodes only."""
    for path in CONSOLE.glob("*.js"):
        code = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in code, f"{path.name} uses {sink}"
        assert "localStorage." not in code, f"{path.name}: the staff token lives in sessionStorage only"
        assert "document.cookie" not in code, path.name


def _dictionary(code: str, language: str) -> set[str]:
    start = code.index(f"  {language}: {{\n")
    end = code.index("\n  },", start)
    return set(re.findall(r'^\s+"([a-z_.0-9]+)":', code[start:end], re.MULTILINE))


def test_every_label_is_in_japanese_and_english() -> None:
    """Both dictionaries hold the same keys, and every label the pages ask for by name is in them (a missing one
    would show its key on screen)."""
    words = (CONSOLE / "i18n.js").read_text()
    japanese, english = _dictionary(words, "ja"), _dictionary(words, "en")
    assert japanese == english, sorted(japanese ^ english)
    asked = {
        key for path in CONSOLE.glob("*.js") for key in re.findall(r'\bt\("([a-z_.0-9]+)"', path.read_text())
    } | set(re.findall(r'data-i18n="([a-z_.0-9]+)"', (CONSOLE / "index.html").read_text()))
    assert asked, "no label found: the pattern no longer matches the code"
    assert asked <= japanese, sorted(asked - japanese)
    # The trend page's channel filter offers exactly the API's channels.
    offered = re.search(r"export const CHANNELS = \[([^\]]*)\]", (CONSOLE / "views_fraud.js").read_text())
    assert offered is not None
    assert tuple(re.findall(r'"([a-z]+)"', offered.group(1))) == CHANNELS
    # The channels, incident kinds and statuses the API names, which the pages look up by value.
    for prefix, values in (
        ("channel", CHANNELS),
        ("incidents.kind", get_args(IncidentKind)),
        ("incidents.status", get_args(Status)),
        ("incidents.entry", (*get_args(EntryKind), "status")),
        ("incidents.report", get_args(ReportKind)),
        ("cases", ("open", "in_review", "escalated", "resolved")),
    ):
        assert {f"{prefix}.{value}" for value in values} <= japanese, prefix
