"""Every answer the tests get from the gateway, checked against its public OpenAPI document (openapi.json).

tests/harness.py `client_for` hooks `record` into every client of a gateway app. For a request on a documented
route, the status must be documented for it, a JSON body must validate against the documented schema, and a
problem's `code` must be one documented for that route and status. What does not is kept here, and the test
that saw it fails in its teardown (tests/conftest.py), naming the route, the status and the code: declare the
problem on the service's route (shared/problems.py `problem_responses`) and run `sekisho openapi`, rather than
loosen this check.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from sekisho.openapi import DOCUMENT, public_routes
from services.gateway.routes import RouteMatch, RouteTable

_JSON = re.compile(r"^application/([a-z.-]+\+)?json$")
_PARAM = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class _Documented:
    method: str
    path: str  # the template
    pattern: re.Pattern[str]
    operation: dict[str, Any]


gaps: list[str] = []  # what the tests saw that the document does not allow, in order
counted = {"checked": 0}  # answers on documented routes, for the run's summary


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return document


@functools.cache
def _operations() -> tuple[_Documented, ...]:
    found = []
    for path, operations in _document()["paths"].items():
        pattern = re.compile("^" + _PARAM.sub("[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")) + "$")
        for method, operation in operations.items():
            found.append(_Documented(method.upper(), path, pattern, operation))
    # Static paths before templated ones, as the gateway matches them (/v1/ops/banks/suspensions before {bank_code}).
    return tuple(sorted(found, key=lambda item: "{" in item.path))


@functools.cache
def _table_paths() -> frozenset[tuple[str, str]]:
    return frozenset((route.method, route.path) for route in public_routes())


@functools.cache
def _validator(path: str, method: str, status: str, media: str) -> Draft202012Validator | None:
    content = _document()["paths"][path][method.lower()]["responses"][status].get("content", {})
    schema = content.get(media, {}).get("schema")
    if schema is None:
        return None
    # The response's schema as the root of one resource that also holds the components its $refs point into.
    return Draft202012Validator({**schema, "components": _document()["components"]})


def documented_codes(node: Any) -> set[str]:
    """The problem codes a response allows (enum and const members; the step-up problem by its reference)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("$ref") == "#/components/schemas/StepUpRequired":
            found.add("step_up_required")
        for key in ("enum",):
            if isinstance(node.get(key), list):
                found.update(str(item) for item in node[key])
        if isinstance(node.get("const"), str):
            found.add(node["const"])
        for value in node.values():
            found |= documented_codes(value)
    elif isinstance(node, list):
        for item in node:
            found |= documented_codes(item)
    return found


def check(
    method: str, path: str, status: int, content_type: str, content: bytes, table: RouteTable | None
) -> str | None:
    """What is wrong with this answer by the document; None when it conforms or the route is not a public one."""
    documented = next((op for op in _operations() if op.method == method and op.pattern.match(path)), None)
    if documented is None:
        return None
    if (method, documented.path) in _table_paths():
        # A test that built the gateway with a table of its own (a fake route on a public path): not the contract.
        matched = table.match(method, path) if table is not None else None
        if not isinstance(matched, RouteMatch) or (matched.route.method, matched.route.path) != (
            method,
            documented.path,
        ):
            return None
    counted["checked"] += 1
    where = f"{method} {documented.path}"
    media = content_type.split(";")[0].strip().lower()
    body: Any = None
    if _JSON.match(media) and content:
        try:
            body = json.loads(content)
        except ValueError:
            return f"{where}: {status} with a body that is not JSON"
    code = body.get("code") if isinstance(body, dict) and media == "application/problem+json" else None
    responses = documented.operation["responses"]
    if str(status) not in responses:
        return f"{where}: status {status} (code {code!r}) is not documented"
    response = responses[str(status)]
    if code is not None and code not in documented_codes(response):
        return f"{where}: status {status} code {code!r} is not documented"
    if body is None:
        return None
    if media not in response.get("content", {}):
        return f"{where}: status {status} answered {media}, documented {sorted(response.get('content', {}))}"
    validator = _validator(documented.path, method, str(status), media)
    if validator is None:
        return None
    error = next(iter(validator.iter_errors(body)), None)
    if error is not None:
        at = "/".join(str(part) for part in error.absolute_path) or "(body)"
        return f"{where}: status {status} (code {code!r}) body does not match the document at {at}: {error.message}"
    return None


def hook(table: RouteTable | None) -> Any:
    """An httpx response hook that records what `check` finds."""

    async def record(response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        found = check(
            request.method,
            request.url.path,
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
            table,
        )
        if found is not None:
            gaps.append(found)

    return record
