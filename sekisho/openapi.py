"""The gateway's public OpenAPI 3.1 document, generated from the services' own models (`sekisho openapi`).

The gateway is a proxy: its route table (services/gateway/routes.py) maps each public (method, path) to a service
and the path there. For every public route this takes the owning service's operation from that service's own
`.openapi()`, moves it to the public path, and adds what the gateway itself does on the way: who must authenticate
(bearer token or partner signature) and every problem the gateway can answer for that route, beside the ones the
service declares (shared/problems.py `problem_responses`). The routes the gateway answers itself (its run-time
controls, the partners' ping, the JWKS, the probes) come from the gateway's own `.openapi()`.

The result is committed as services/gateway/openapi.json, which the gateway serves at /openapi.json; a test
regenerates it and fails when the committed file is stale.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import secrets
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.gateway.jwks import PATH as JWKS_PATH
from services.gateway.policy import SHIPPED_POLICY, OperationPolicy, load_policy
from services.gateway.proxy import FORWARDED_REQUEST_HEADERS
from services.gateway.routes import PING, PUBLIC_ROUTES, Route, diagnostic_routes
from shared.contracts.step_up import StepUpChallenge
from shared.problems import PROBLEM_CONTENT_TYPE, problem_codes_of

DOCUMENT = Path(__file__).resolve().parent.parent / "services" / "gateway" / "openapi.json"
SERVICES = ("auth", "kyc", "txn", "fraud", "notify")
REF = "#/components/schemas/"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
CALLER_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "customer": [{"customerToken": []}],
    "staff": [{"staffToken": []}],
    "partner": [{"partnerSignature": []}],
}
# The headers of a partner's signed request (RFC 9421, RFC 9530), besides Signature (the security scheme).
SIGNATURE_HEADERS = (
    (
        "Signature-Input",
        True,
        'sig1=("@method" "@target-uri" "content-digest");created=…;nonce="…";keyid="…";alg="hmac-sha256"',
    ),
    ("Content-Digest", False, "sha-256=:…: over the body (RFC 9530); required when the request has a body"),
)


def public_routes() -> tuple[Route, ...]:
    """Every route the gateway's table can hold: the diagnostic ones too (served only with SEKISHO_DIAGNOSTICS)."""
    return PUBLIC_ROUTES + diagnostic_routes()


# --- the services' own documents -------------------------------------------------------------------------------


def settings_for_documents(service: str, data_dir: Path) -> Any:
    """Settings enough to build the app (its routes depend on none of them): fresh keys, never the environment's."""
    from sekisho.services import settings_class
    from shared.identity_keys import new_identity_key
    from shared.tokens import new_signing_key

    private, public = new_identity_key()
    values: dict[str, Any] = {
        "env": "test",
        "identity_key": private,
        "identity_public_keys": {service: [public]},
        "data_keys": "g1:" + secrets.token_urlsafe(32)[:43],
        "blind_index_key": "gi1:" + secrets.token_urlsafe(32)[:43],
        "data_dir": data_dir,
        "log_json": False,
    }
    if service == "auth":
        values["auth_signing_key"] = new_signing_key()[0]
    return settings_class(service)(**values)


def service_documents() -> dict[str, dict[str, Any]]:
    """Each service's own OpenAPI document (the gateway's too), as its app describes itself."""
    documents: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sekisho-openapi-") as data_dir:
        for service in (*SERVICES, "gateway"):
            module = importlib.import_module(f"services.{service}.app")
            app: FastAPI = module.create_app(settings_for_documents(service, Path(data_dir)))
            # FastAPI's own description of the app's routes: the gateway's app.openapi() is this module's output.
            documents[service] = get_openapi(title=app.title, version=app.version, routes=app.routes)
    return documents


def _template(path: str) -> str:
    return _PARAM.sub("{}", path)


def _find_operation(document: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The operation at (method, path), path parameters compared by position (fraud names `{list}` `list_name`)."""
    wanted = _template(path)
    for candidate, operations in document["paths"].items():
        if _template(candidate) == wanted and method.lower() in operations:
            return candidate, operations[method.lower()]
    raise LookupError(f"{method} {path} is not an operation of the service")


# --- components merged, names made unique --------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            yield ref[len(REF) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _renamed(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {key: _renamed(value, names) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            out["$ref"] = REF + names[ref[len(REF) :]]
        return out
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    return node


def component_names(documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """service -> its schema name -> the name in the public document. A name that two services define differently
    is prefixed with the service's name in every service that defines it (`KycStatus`, `TxnStatus`); the same
    definition shared by several keeps its name."""
    definitions: dict[str, dict[str, str]] = {}
    for service, document in documents.items():
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            definitions.setdefault(name, {})[service] = json.dumps(schema, sort_keys=True)
    names: dict[str, dict[str, str]] = {service: {} for service in documents}
    for name, by_service in definitions.items():
        clash = len(set(by_service.values())) > 1
        for service in by_service:
            names[service][name] = f"{service.capitalize()}{name}" if clash else name
    return names


# --- problems ------------------------------------------------------------------------------------------------


def gateway_problems(route: Route, rule: OperationPolicy | None) -> dict[int, set[str]]:
    """Every (status, code) the gateway itself can answer on this route, before or instead of the service."""
    found: dict[int, set[str]] = {}

    def add(status: int, *codes: str) -> None:
        found.setdefault(status, set()).update(codes)

    # Any request: a Content-Length that is no number, a body over the limit, JSON nested too deep (body_limit.py,
    # json_depth.py), the route class's IP rules, its rate limits and their store, a crash.
    add(400, "bad_request")
    add(413, "payload_too_large")
    add(422, "validation_failed")
    add(500, "internal_error")
    admitted = route.service != "gateway" or route == PING  # admission.py: the kill switches and rate limits
    if admitted or route.caller != "anyone" or route.path == JWKS_PATH:
        add(503, "service_unavailable")  # auth (keys, sessions), the rate limits' store or the service is down
    if admitted or route.caller == "staff":
        add(403, "ip_denied")  # the IP rules of the route's class (SEC-4); the controls API checks the ops class
    if admitted:
        add(429, "rate_limited")
    if admitted and not route.operation.startswith("ops_"):
        add(503, "operation_suspended")  # a kill switch (staff operations cannot be switched off)
    if "{" in route.path or route in diagnostic_routes():
        # A path parameter holding "/" (the path arrives decoded) matches no route of the table; the diagnostic
        # routes are not in the table unless SEKISHO_DIAGNOSTICS is on.
        add(404, "not_found")
    if route.service != "gateway":
        add(504, "upstream_timeout")  # the service did not answer in the route's time; 503 when it is down
    if route.caller in ("customer", "staff"):
        add(401, "unauthorized")
    if route.caller == "staff" and route.role is not None:
        add(403, "forbidden")
    if route.caller == "partner":
        add(401, "signature_invalid")
    if rule is None:
        return found
    add(403, "operation_denied")  # a caller the operation does not take, a risk over the deny threshold
    if rule.kyc_required:
        add(403, "kyc_required")
    if rule.score:
        add(403, "device_blocked")
    stepped_up = rule.step_up or rule.risk.step_up is not None or rule.possession_required or rule.login_max_age
    if route.caller == "customer" and "customer" in rule.callers and (stepped_up or rule.fresh_seconds):
        add(401, "step_up_required", "reauthentication_required")
    return found


def _problem_schema(status: int, codes: list[str]) -> dict[str, Any]:
    enum = {"allOf": [{"$ref": REF + "Problem"}, {"properties": {"code": {"enum": codes}}}]}
    if status == 401 and "step_up_required" in codes:
        others = [code for code in codes if code != "step_up_required"]
        variants: list[dict[str, Any]] = [{"$ref": REF + "StepUpRequired"}]
        if others:
            variants.append({"allOf": [{"$ref": REF + "Problem"}, {"properties": {"code": {"enum": others}}}]})
        return {"anyOf": variants}
    return enum


def problem_components() -> dict[str, Any]:
    """`Problem` (RFC 9457 with sekisho's `code`), its validation members, and the step-up 401 with its challenge."""
    challenge = StepUpChallenge.model_json_schema(ref_template=REF + "{model}")
    return {
        "Problem": {
            "type": "object",
            "title": "Problem",
            "description": "An RFC 9457 problem document (application/problem+json) with a stable machine `code`.",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string", "description": "urn:sekisho:problem:<code>"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "violations": {"type": "array", "items": {"$ref": REF + "Violation"}},
                "reasons": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": True,
        },
        "Violation": {
            "type": "object",
            "title": "Violation",
            "required": ["field", "code", "message"],
            "properties": {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
        },
        "StepUpRequired": {
            "title": "StepUpRequired",
            "description": '401 with `WWW-Authenticate: Bearer error="insufficient_user_authentication"` (RFC 9470): '
            "prove a factor at POST /v1/auth/challenges/{id}/verify, then repeat the request with `Step-Up-Grant`.",
            "allOf": [
                {"$ref": REF + "Problem"},
                {
                    "type": "object",
                    "required": ["challenge"],
                    "properties": {
                        # `enum` of one, as every other problem's code: the same in JSON Schema, and generators
                        # that cannot merge `const` with Problem's string (openapi-python-client dropped this schema,
                        # and with it the step-up 401 of every route that answers it) read it.
                        "code": {"enum": ["step_up_required"]},
                        "challenge": {"$ref": REF + "StepUpChallenge"},
                        "factors": {"type": "array", "items": {"type": "string"}},
                    },
                },
            ],
        },
        "StepUpChallenge": challenge,
    }


def _service_problems(operation: dict[str, Any]) -> dict[int, set[str]]:
    """The problems the service declared on its operation, removed from it (they are merged with the gateway's)."""
    found: dict[int, set[str]] = {}
    for status in list(operation.get("responses", {})):
        response = operation["responses"][status]
        content = response.get("content", {})
        codes = problem_codes_of(content.get(PROBLEM_CONTENT_TYPE, {}).get("schema"))
        if codes is not None:
            found.setdefault(int(status), set()).update(codes)
            del operation["responses"][status]
        elif str(status) == "422" and "HTTPValidationError" in json.dumps(content):
            # FastAPI's own 422: the service answers it as a `validation_failed` problem (shared/problems.py).
            found.setdefault(422, set()).add("validation_failed")
            del operation["responses"][status]
    return found


# --- the document --------------------------------------------------------------------------------------------


def _operation_id(method: str, path: str) -> str:
    """`post_v1_auth_login`: unique per public (method, path); `/ops/` (a folder's index) is not `/ops`."""
    named = re.sub(r"[^a-z0-9]+", "_", f"{method} {path}".lower()).strip("_")
    return f"{named}_index" if path.endswith("/") and path != "/" else named


def _public_operation(
    route: Route, operation: dict[str, Any], upstream_template: str, rule: OperationPolicy | None
) -> dict[str, Any]:
    operation = copy.deepcopy(operation)
    renames = dict(zip(_PARAM.findall(upstream_template), _PARAM.findall(route.path), strict=True))
    parameters = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() not in FORWARDED_REQUEST_HEADERS:
            continue  # not passed by the gateway: internal only
        if parameter["in"] == "path":
            parameter["name"] = renames.get(parameter["name"], parameter["name"])
        parameters.append(parameter)
    if route.caller == "partner":
        parameters += [
            {"name": name, "in": "header", "required": required, "description": text, "schema": {"type": "string"}}
            for name, required, text in SIGNATURE_HEADERS
        ]
    gateways = gateway_problems(route, rule)
    if "step_up_required" in gateways.get(401, ()):
        parameters.append(
            {
                "name": "Step-Up-Grant",
                "in": "header",
                "required": False,
                "description": "The grant that answered this request's step-up challenge (RFC 9470): single use, for "
                "this operation and these key fields.",
                "schema": {"type": "string", "minLength": 10, "maxLength": 100},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
    problems = _service_problems(operation)
    for status, codes in gateways.items():
        problems.setdefault(status, set()).update(codes)
    for status in sorted(problems):
        listed = sorted(problems[status])
        operation["responses"][str(status)] = {
            "description": "Problem: " + ", ".join(listed),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": _problem_schema(status, listed)}},
        }
    operation["responses"] = dict(sorted(operation["responses"].items()))
    operation["operationId"] = _operation_id(route.method, route.path)
    operation["tags"] = [route.service]
    if route.caller in CALLER_SECURITY:
        operation["security"] = CALLER_SECURITY[route.caller]
    operation["x-sekisho-operation"] = route.operation
    if route.role is not None:
        operation["x-sekisho-role"] = route.role
    if route in diagnostic_routes():
        operation["description"] = (
            operation.get("description", "") + "\n\nOnly when the gateway runs with SEKISHO_DIAGNOSTICS=true."
        ).strip()
    return operation


def gateway_own_routes(document: dict[str, Any]) -> list[Route]:
    """The routes the gateway answers itself, as Routes: caller and role from their `x-sekisho-*` declarations."""
    routes = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) == (PING.method, PING.path):
                routes.append(PING)
                continue
            routes.append(
                Route(
                    method.upper(),
                    path,
                    "gateway",
                    operation.get("x-sekisho-operation", "gateway"),
                    caller=operation.get("x-sekisho-caller", "anyone"),
                    role=operation.get("x-sekisho-role"),
                )
            )
    return routes


def build_document() -> dict[str, Any]:
    documents = service_documents()
    names = component_names(documents)
    policy = load_policy(SHIPPED_POLICY, {route.operation for route in public_routes()})
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}

    def place(route: Route, operation: dict[str, Any]) -> None:
        paths.setdefault(route.path, {})[route.method.lower()] = operation

    for route in public_routes():
        upstream = route.upstream_path or route.path
        found_path, operation = _find_operation(documents[route.service], route.method, upstream)
        operation = _renamed(operation, names[route.service])
        place(route, _public_operation(route, operation, found_path, policy.operations.get(route.operation)))
    for route in gateway_own_routes(documents["gateway"]):
        operation = _renamed(documents["gateway"]["paths"][route.path][route.method.lower()], names["gateway"])
        operation = {key: value for key, value in operation.items() if not key.startswith("x-sekisho-caller")}
        rule = policy.operations.get(route.operation) if route.path == PING.path else None
        if route.path in ("/healthz", "/readyz"):
            operation = copy.deepcopy(operation)
            operation["operationId"] = _operation_id(route.method, route.path)
            operation["tags"] = ["gateway"]
            paths.setdefault(route.path, {})[route.method.lower()] = operation
            continue
        place(route, _public_operation(route, operation, route.path, rule))
    for service, document in documents.items():
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            schemas[names[service][name]] = _renamed(schema, names[service])
    schemas.update(problem_components())
    for name in list(schemas):
        if "$defs" in schemas[name]:  # pydantic's own definitions, for the challenge: components instead
            schemas.update(schemas[name].pop("$defs"))
    reachable = _reachable(paths, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sekisho public API",
            "version": "1",
            "description": "Every route the gateway answers, generated by `sekisho openapi` from the services' own "
            "models (README: 'The public contract'). Errors are RFC 9457 problem documents with a stable `code`.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": unique_titles({name: schemas[name] for name in sorted(reachable)}),
            "securitySchemes": {
                "customerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A customer's access token from /v1/auth/login (or the challenge that follows).",
                },
                "staffToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A staff member's access token from /v1/ops/auth/login (password and TOTP).",
                },
                "partnerSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Signature",
                    "description": "HTTP Message Signatures (RFC 9421), hmac-sha256 with the key of `sekisho partner "
                    "create`, with Signature-Input (created, nonce, keyid) covering @method, @target-uri and, "
                    "for a body, content-digest (RFC 9530, sha-256).",
                },
            },
        },
    }


def unique_titles(schemas: dict[str, Any]) -> dict[str, Any]:
    """A component whose `title` another component has too is titled by its own name (`KycStatus` and `TxnStatus`
    were both "Status", fraud's two `StatusIn` both "StatusIn"): client generators name their models by the title,
    and openapi-python-client refused the clash and left out the operations that use them."""
    titles = Counter(schema.get("title") for schema in schemas.values())
    for name, schema in schemas.items():
        if schema.get("title") is not None and titles[schema["title"]] > 1:
            schema["title"] = name
    return schemas


def _reachable(paths: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(_refs(paths))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name]))
    return seen


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def write(out: Path = DOCUMENT) -> Path:
    out.write_text(render(build_document()), encoding="utf-8")
    return out
