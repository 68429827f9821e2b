"""What every public request passes before any work, whichever router answers it: the IP rules of its route's class
(SEC-4), the kill switches (INC-1) and the rate limits (SEC-3); a partner's signature, then the switches and limits
of that partner. A denied address, a stopped operation or a flood costs no service call."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from services.gateway.client_ip import client_ip
from services.gateway.controls import route_class_of
from services.gateway.routes import Route
from services.gateway.runtime import GatewayRuntime
from services.gateway.signatures import PartnerCaller


@dataclass(frozen=True)
class Admitted:
    ip: str  # the client's address, as SEKISHO_TRUSTED_PROXIES alone decides it
    route_class: str


async def admit(request: Request, runtime: GatewayRuntime, route: Route) -> Admitted:
    ip = client_ip(request, runtime.settings.trusted_proxies)
    controls = runtime.controls
    route_class = route_class_of(route, request.url.path)
    controls.check_ip(route_class, ip)
    controls.check_operation(route.operation)
    await controls.limiter.check(operation=route.operation, route_class=route_class, ip=ip)
    return Admitted(ip, route_class)


async def admit_partner(request: Request, runtime: GatewayRuntime, route: Route, admitted: Admitted) -> PartnerCaller:
    """The partner whose signature the request carries, once its own kill switch and rate limit let it in."""
    partner = await runtime.partners.authenticate(request)
    controls = runtime.controls
    controls.check_operation(route.operation, partner.partner_id)
    await controls.limiter.check(
        operation=route.operation, route_class=admitted.route_class, partner_id=partner.partner_id
    )
    return partner
