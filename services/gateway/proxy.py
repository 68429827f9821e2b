"""Forwards a public request to the service that owns its route, with the internal identity attached."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.gateway.bearer import BearerAuthenticator, identity_context
from services.gateway.client_ip import client_ip
from services.gateway.controls import GatewayControls, route_class_of
from services.gateway.routes import RouteMatch, RouteTable
from services.gateway.settings import GatewaySettings
from shared.dependencies import StateDep
from shared.problems import Problem
from shared.roles import has_role

# Only these cross the gateway; the caller's credentials are replaced by the internal identity.
FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "accept-language", "idempotency-key", "user-agent")
RETURNED_RESPONSE_HEADERS = (
    "content-type",
    "location",
    "retry-after",
    "www-authenticate",
    "cache-control",
    "content-language",
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

router = APIRouter()


def _match(request: Request) -> RouteMatch:
    table: RouteTable = request.app.state.routes
    found = table.match(request.method, request.url.path)
    if isinstance(found, RouteMatch):
        return found
    if found:
        raise Problem(
            f"{request.method} is not allowed here.",
            code="method_not_allowed",
            status=405,
            headers={"Allow": ", ".join(sorted(set(found)))},
        )
    raise Problem("No such resource.", code="not_found", status=404)


@router.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
async def forward(request: Request, state: StateDep) -> Response:
    match = _match(request)
    settings = state.settings
    assert isinstance(settings, GatewaySettings)
    operation = match.route.operation
    ip = client_ip(request, settings.trusted_proxies)
    context: dict[str, Any] = {"client_ip": ip, "operation": operation}
    # SEC-4, INC-1 and SEC-3 before any work: a denied address, a stopped operation or a flood costs no service call.
    controls: GatewayControls = state.extras["controls"]
    route_class = route_class_of(match.route, request.url.path)
    controls.check_ip(route_class, ip)
    controls.check_operation(operation)
    await controls.limiter.check(operation=operation, route_class=route_class, ip=ip)
    if match.route.caller != "anyone":
        bearer: BearerAuthenticator = state.extras["bearer"]
        claims = await bearer.authenticate(request, "staff" if match.route.caller == "staff" else "customer")
        if match.route.role is not None and not has_role(claims.role, match.route.role):
            raise Problem(f"This route needs the {match.route.role} role.", code="forbidden", status=403)
        context.update(identity_context(claims))
        if claims.subject_type == "customer":
            await controls.limiter.check(operation=operation, route_class=route_class, customer_id=claims.subject)
    if partner_id := context.get("partner_id"):  # set where a partner's signature authenticated the request
        controls.check_operation(operation, partner_id)
        await controls.limiter.check(operation=operation, route_class=route_class, partner_id=partner_id)
    headers = {name: value for name in FORWARDED_REQUEST_HEADERS if (value := request.headers.get(name)) is not None}
    upstream = await state.client.request(
        match.route.service,
        request.method,
        match.route.upstream(match.params),
        content=await request.body(),
        params=dict(request.query_params),
        headers=headers,
        timeout_seconds=match.route.timeout_seconds or settings.default_route_timeout_seconds,
        idempotent=False,  # the gateway never repeats a caller's request on its own
        context=context,
    )
    returned = {name: value for name in RETURNED_RESPONSE_HEADERS if (value := upstream.headers.get(name)) is not None}
    return Response(content=upstream.content, status_code=upstream.status_code, headers=returned)
