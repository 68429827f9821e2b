"""RFC 9457 problem documents: the one way a sekisho service fails.

Domain code raises a `Problem` (or a subclass carrying its own `code` and status); the handlers
installed by `install_problem_handlers` render every failure, including validation errors,
unknown routes and crashes, as `application/problem+json` with a stable machine `code`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:sekisho:problem:"

log = logging.getLogger("sekisho.problems")

_TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    423: "Locked",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Problem(Exception):
    """A failure with a stable `code`, rendered as an RFC 9457 problem document."""

    status: int = 400
    code: str = "bad_request"
    title: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return problem_body(self.status, self.code, self.detail, title=self.title, **self.extra)


def invalid(field: str, message: str) -> Problem:
    """A 422 `validation_failed` about one field, shaped like the framework's own validation problems."""
    return Problem(
        message,
        code="validation_failed",
        status=422,
        violations=[{"field": field, "code": "invalid", "message": message}],
    )


def problem_body(status: int, code: str, detail: str, *, title: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def problem_response(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, **extra),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def violations_from(errors: Any) -> list[dict[str, str]]:
    """Every violation pydantic found, as `{field, code, message}` (API.md conventions)."""
    out: list[dict[str, str]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
        out.append(
            {
                "field": ".".join(loc) or "body",
                "code": str(error.get("type", "invalid")),
                "message": str(error.get("msg", "invalid value")),
            }
        )
    return out


# Codes for the statuses Starlette raises by itself (unknown route, wrong method, ...).
_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _handle_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return JSONResponse(exc.body(), status_code=exc.status, media_type=PROBLEM_CONTENT_TYPE, headers=exc.headers)


async def _handle_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    violations = violations_from(exc.errors())
    return problem_response(
        422,
        "validation_failed",
        f"The request has {len(violations)} invalid field(s).",
        violations=violations,
    )


async def _handle_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404:
        detail = "No such resource."
    return problem_response(exc.status_code, code, detail, headers=dict(exc.headers or {}))


async def _handle_crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal_error", "The request could not be completed; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_crash)


# --- the problems a route declares in its OpenAPI document -------------------------------------------------------

Declared = type[Problem] | tuple[int, str]


def problem_schema(codes: list[str]) -> dict[str, Any]:
    """A problem document whose `code` is one of `codes` (inline: a service's own OpenAPI needs no component)."""
    return {
        "type": "object",
        "title": "Problem",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "enum": codes},
        },
        "additionalProperties": True,
    }


# What every staff route reached through the gateway can answer besides its own problems: the caller's identity or
# token refused, a role too low, and a service it calls down or too slow.
STAFF_ROUTE_PROBLEMS: tuple[Declared, ...] = (
    (401, "unauthorized"),
    (403, "forbidden"),
    (503, "service_unavailable"),
    (504, "upstream_timeout"),
)


def problem_responses(*declared: Declared) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=` for the problems a route can answer, each a Problem class or (status, code):
    `@router.post(..., responses=problem_responses(NotFound, (409, "already_linked")))`. The gateway's public
    document (sekisho/openapi.py) reads the codes back from each status's schema."""
    by_status: dict[int, set[str]] = {}
    for item in declared:
        status, code = item if isinstance(item, tuple) else (item.status, item.code)
        by_status.setdefault(status, set()).add(code)
    return {
        status: {
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": problem_schema(sorted(codes))}},
        }
        for status, codes in sorted(by_status.items())
    }


def problem_codes_of(schema: Any) -> list[str] | None:
    """The codes of a schema that `problem_schema` made; None for any other schema."""
    if not isinstance(schema, dict) or schema.get("title") != "Problem":
        return None
    enum = schema.get("properties", {}).get("code", {}).get("enum")
    return [str(code) for code in enum] if isinstance(enum, list) else None
