"""Forwards a public request to the service that owns its route, with the internal identity attached."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.gateway import admission
from services.gateway.bearer import identity_context
from services.gateway.policy import Caller
from services.gateway.routes import RouteMatch, RouteTable
from services.gateway.runtime import GatewayRuntime, RuntimeDep
from shared.channels import channel_var, of_request
from shared.contracts.sessions import SESSIONS_ENDED_HEADER
from shared.internal_client import ServiceTimeout
from shared.metrics import UNMATCHED
from shared.problems import Problem
from shared.roles import has_role
from shared.tokens import AccessClaims

# Only these cross the gateway; the caller's credentials are replaced by the internal identity.
FORWARDED_REQUEST_HEADERS = ("content-type", "accept", "accept-language", "idempotency-key", "user-agent")
RETURNED_RESPONSE_HEADERS = (
    "content-type",
    "location",
    "retry-after",
    "www-authenticate",
    "cache-control",
    "content-language",
    "idempotent-replayed",  # the answer of an earlier request with the same Idempotency-Key (txn's charges)
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

router = APIRouter()


def _match(request: Request) -> RouteMatch:
    table: RouteTable = request.app.state.routes
    found = table.match(request.method, request.url.path)
    # The metrics count the table's template, never the path (its ids), nor the catch-all's "/{path:path}".
    request.state.metrics_route = found.route.path if isinstance(found, RouteMatch) else UNMATCHED
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
async def forward(request: Request, runtime: RuntimeDep) -> Response:
    match = _match(request)
    route = match.route
    operation = route.operation
    # SEC-4, INC-1 and SEC-3 before any work: a denied address, a stopped operation or a flood costs no service call.
    admitted = await admission.admit(request, runtime, route)
    ip = admitted.ip
    # MON-1: the channel of what this request records, here (a gateway decision) and in the service (ctx.channel).
    channel = of_request(route.caller, request.url.path, request.headers.get("user-agent"))
    context: dict[str, Any] = {"client_ip": ip, "operation": operation, "channel": channel}
    channel_token = channel_var.set(channel)
    try:
        return await _forwarded_within_limits(request, runtime, match, context, admitted=admitted)
    finally:
        channel_var.reset(channel_token)


async def _forwarded_within_limits(
    request: Request,
    runtime: GatewayRuntime,
    match: RouteMatch,
    context: dict[str, Any],
    *,
    admitted: admission.Admitted,
) -> Response:
    operation = match.route.operation
    ip = admitted.ip
    # Limits of what is created (accounts opened per IP): a slot held now, given back unless the service made
    # one (rate_limits.py).
    controls = runtime.controls
    held = await controls.limiter.hold(operation=operation, route_class=admitted.route_class, ip=ip)
    try:
        response = await _authenticated_and_forwarded(request, runtime, match, context, admitted=admitted)
    except ServiceTimeout:
        raise  # no answer (and, below, no cancelled request): what was asked for may exist, the slot stays taken
    except Exception:
        await controls.limiter.release(held)
        raise
    if response.status_code != 201:
        await controls.limiter.release(held)
    return response


async def _authenticated_and_forwarded(
    request: Request,
    runtime: GatewayRuntime,
    match: RouteMatch,
    context: dict[str, Any],
    *,
    admitted: admission.Admitted,
) -> Response:
    """The caller authenticated and the request cleared by the policy, then forwarded: the service's answer."""
    route = match.route
    operation = route.operation
    ip = admitted.ip
    caller: Caller = "anonymous"
    claims: AccessClaims | None = None
    contact_changed_at: int | None = None
    kyc_verified = False
    enforcer = runtime.enforcer
    if route.caller == "partner":
        partner = await admission.admit_partner(request, runtime, route, admitted)
        caller = "partner"
        context.update(partner_id=partner.partner_id, partner_name=partner.partner_name, key_id=partner.key_id)
    elif route.caller != "anyone":
        bearer = runtime.bearer
        # An operation that waits a cool-off after a contact change, or needs a verified identity, asks auth afresh:
        # the change, an approval or a return to re-verification may be seconds old (KYC-2; README "KYC status").
        rule = enforcer.policy.operations[operation]
        fresh = rule.contact_change_cool_off_seconds > 0 or rule.kyc_required
        claims = await bearer.authenticate(
            request, "staff" if route.caller == "staff" else "customer", fresh_session=fresh
        )
        contact_changed_at = bearer.contact_changed_at(claims.session_id)
        kyc_verified = claims.subject_type == "customer" and bearer.kyc_status(claims.session_id) == "verified"
        if route.role is not None and not has_role(claims.role, route.role):
            raise Problem(f"This route needs the {route.role} role.", code="forbidden", status=403)
        caller = claims.subject_type
        context.update(identity_context(claims))
        if claims.subject_type == "customer":
            await runtime.controls.limiter.check(
                operation=operation, route_class=admitted.route_class, customer_id=claims.subject
            )
    # What the caller must prove at this risk (the policy), before anything is forwarded.
    context.update(
        await enforcer.clear(
            request,
            route,
            caller=caller,
            claims=claims,
            ip=ip,
            contact_changed_at=contact_changed_at,
            kyc_verified=kyc_verified,
            params=match.params,
        )
    )
    headers = {name: value for name in FORWARDED_REQUEST_HEADERS if (value := request.headers.get(name)) is not None}
    upstream = await runtime.service.client.request(
        route.service,
        request.method,
        route.upstream(match.params),
        content=await request.body(),
        params=dict(request.query_params),
        headers=headers,
        timeout_seconds=route.timeout_seconds or runtime.settings.default_route_timeout_seconds,
        idempotent=False,  # the gateway never repeats a caller's request on its own
        context=context,
    )
    if claims is not None and (ended := upstream.headers.get(SESSIONS_ENDED_HEADER)):
        # The service ended these sessions just now (a device removed): refused here at once, not after the
        # session check's few seconds. Other gateway replicas learn it at their next check (bearer.py).
        runtime.bearer.forget_sessions(ended.split(","))
    returned = {name: value for name in RETURNED_RESPONSE_HEADERS if (value := upstream.headers.get(name)) is not None}
    return Response(content=upstream.content, status_code=upstream.status_code, headers=returned)
