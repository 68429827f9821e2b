"""Staff routes the gateway answers itself for its run-time controls: kill switches and IP rules (admin), and
clearing a rate limit's count for one address, customer or partner (supervisor).

Mounted before the proxy's catch-all route. Every call is authenticated here with the staff token, passes
the ops IP rules, and is audited through the gateway's outbox to auth's trail (SEC-6).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, IPvAnyAddress
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from services.gateway.client_ip import client_ip
from services.gateway.rate_limits import Per
from services.gateway.runtime import GatewayRuntime, RuntimeDep
from services.gateway.schemas import IpRuleRemoved, IpRules, IpRuleView, KillSwitches, KillSwitchView, RateLimitCleared
from shared.audit import Actor, audit_staff
from shared.dependencies import SessionDep
from shared.problems import Problem, invalid, problem_responses
from shared.roles import has_role
from shared.service import ServiceState

router = APIRouter(prefix="/v1/ops", tags=["controls"])


async def _current_staff(request: Request, runtime: GatewayRuntime, role: str) -> Actor:
    ip = client_ip(request, runtime.settings.trusted_proxies)
    runtime.controls.check_ip("ops", ip)
    claims = await runtime.bearer.authenticate(request, "staff")
    if not has_role(claims.role, role):
        raise Problem(f"This route needs the {role} role.", code="forbidden", status=403)
    return Actor(staff_id=claims.subject, role=claims.role or "", session_id=claims.session_id, ip=ip)


async def current_admin(request: Request, runtime: RuntimeDep) -> Actor:
    return await _current_staff(request, runtime, "admin")


async def current_supervisor(request: Request, runtime: RuntimeDep) -> Actor:
    return await _current_staff(request, runtime, "supervisor")


AdminDep = Annotated[Actor, Depends(current_admin)]
# Who may call each route, for the public OpenAPI document (sekisho/openapi.py): staff of at least this role.
ADMIN_ONLY: dict[str, Any] = {"x-sekisho-caller": "staff", "x-sekisho-role": "admin", "x-sekisho-operation": "controls"}
SUPERVISORS: dict[str, Any] = {**ADMIN_ONLY, "x-sekisho-role": "supervisor"}
SupervisorDep = Annotated[Actor, Depends(current_supervisor)]


async def _audit(
    session: AsyncSession,
    state: ServiceState,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any],
) -> None:
    await audit_staff(session, state, actor, action=action, target_type=target_type, target_id=target_id, detail=detail)


class KillSwitchChange(BaseModel):
    active: bool
    reason: str = Field(min_length=1, max_length=500)
    partner_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


@router.get("/kill-switches", openapi_extra=ADMIN_ONLY)
async def list_kill_switches(session: SessionDep, runtime: RuntimeDep, actor: AdminDep) -> KillSwitches:
    """Every switch that was ever set, with its state now; `operations` names what can be switched."""
    controls = runtime.controls
    switches = await controls.kill_switches(session)
    await _audit(
        session, runtime.service, actor, action="kill_switch.list", target_type="kill_switch", target_id="*", detail={}
    )
    return KillSwitches(
        kill_switches=[KillSwitchView(**switch.view()) for switch in switches],
        operations=sorted(op for op in controls.known_operations if not op.startswith("ops_")),
    )


@router.put(
    "/kill-switches/{operation}",
    openapi_extra=ADMIN_ONLY,
    responses=problem_responses((422, "unknown_operation"), (422, "operation_not_switchable")),
)
async def set_kill_switch(
    operation: str, body: KillSwitchChange, session: SessionDep, runtime: RuntimeDep, actor: AdminDep
) -> KillSwitchView:
    """Stop (`active: true`) or resume an operation type, for every partner or for one (INC-1, LINK-4)."""
    controls = runtime.controls
    switch = await controls.set_kill_switch(
        session,
        operation=operation,
        partner_id=body.partner_id,
        active=body.active,
        reason=body.reason,
        set_by=actor.staff_id,
    )
    await _audit(
        session,
        runtime.service,
        actor,
        action="kill_switch.set",
        target_type="kill_switch",
        target_id=operation,
        detail={"partner_id": body.partner_id, "active": body.active, "reason": body.reason},
    )
    return KillSwitchView(**switch.view())


class IpRuleRequest(BaseModel):
    route_class: Literal["customer", "partner", "ops"]
    kind: Literal["allow", "deny"]
    cidr: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=500)


@router.get("/ip-rules", openapi_extra=ADMIN_ONLY)
async def list_ip_rules(session: SessionDep, runtime: RuntimeDep, actor: AdminDep) -> IpRules:
    controls = runtime.controls
    rules = await controls.ip_rules(session)
    await _audit(
        session, runtime.service, actor, action="ip_rule.list", target_type="ip_rule", target_id="*", detail={}
    )
    return IpRules(ip_rules=[IpRuleView(**rule.view()) for rule in rules])


@router.put(
    "/ip-rules",
    status_code=201,
    openapi_extra=ADMIN_ONLY,
    responses={
        200: {"description": "the same rule is already in force", "model": IpRuleView},
        201: {"description": "the rule added", "model": IpRuleView},
        **problem_responses((422, "validation_failed"), (422, "would_lock_out")),
    },
)
async def add_ip_rule(body: IpRuleRequest, session: SessionDep, runtime: RuntimeDep, actor: AdminDep) -> JSONResponse:
    """Add an allow or deny rule (SEC-4); the same rule again answers 200 with the one in force."""
    controls = runtime.controls
    rule, created = await controls.add_ip_rule(
        session,
        route_class=body.route_class,
        kind=body.kind,
        cidr=body.cidr,
        note=body.note,
        created_by=actor.staff_id,
        caller_ip=actor.ip,
    )
    if created:
        await _audit(
            session,
            runtime.service,
            actor,
            action="ip_rule.add",
            target_type="ip_rule",
            target_id=rule.id,
            detail={"route_class": rule.route_class, "kind": rule.kind, "cidr": str(rule.network)},
        )
    return JSONResponse(IpRuleView(**rule.view()).model_dump(), status_code=201 if created else 200)


@router.delete(
    "/ip-rules/{rule_id}",
    openapi_extra=ADMIN_ONLY,
    responses=problem_responses((404, "not_found"), (422, "would_lock_out")),
)
async def remove_ip_rule(rule_id: str, session: SessionDep, runtime: RuntimeDep, actor: AdminDep) -> IpRuleRemoved:
    controls = runtime.controls
    rule = await controls.remove_ip_rule(session, rule_id=rule_id, removed_by=actor.staff_id, caller_ip=actor.ip)
    await _audit(
        session,
        runtime.service,
        actor,
        action="ip_rule.remove",
        target_type="ip_rule",
        target_id=rule.id,
        detail={"route_class": rule.route_class, "kind": rule.kind, "cidr": str(rule.network)},
    )
    return IpRuleRemoved(**rule.view(), removed=True)


class RateLimitKey(BaseModel):
    """Whose count to clear: exactly one of an address, a customer or a partner."""

    operation: str = Field(min_length=1, max_length=64)
    ip: IPvAnyAddress | None = None
    customer_id: str | None = Field(default=None, min_length=1, max_length=64)
    partner_id: str | None = Field(default=None, min_length=1, max_length=64)

    def keyed(self) -> tuple[Per, str]:
        named: tuple[tuple[Per, object], ...] = (
            ("ip", self.ip),
            ("customer", self.customer_id),
            ("partner", self.partner_id),
        )
        given = [(per, str(value)) for per, value in named if value is not None]
        if len(given) != 1:
            raise invalid("ip", "Give exactly one of ip, customer_id and partner_id.")
        return given[0]


@router.delete(
    "/rate-limits",
    openapi_extra=SUPERVISORS,
    responses=problem_responses((404, "not_found"), (422, "unknown_operation"), (422, "validation_failed")),
)
async def clear_rate_limit(
    key: Annotated[RateLimitKey, Query()], session: SessionDep, runtime: RuntimeDep, actor: SupervisorDep
) -> RateLimitCleared:
    """Forget the counts of one address, customer or partner in the limits of one operation, on every replica:
    a customer shut out of account opening behind a carrier's shared address, for instance."""
    controls = runtime.controls
    if key.operation not in controls.known_operations:
        raise Problem(f"There is no operation {key.operation!r}.", code="unknown_operation", status=422)
    per, value = key.keyed()
    cleared = await controls.limiter.clear(operation=key.operation, per=per, value=value)
    if not cleared:
        raise Problem(f"No rate limit of {key.operation} is kept per {per}.", code="not_found", status=404)
    await _audit(
        session,
        runtime.service,
        actor,
        action="rate_limit.clear",
        target_type="rate_limit",
        target_id=f"{key.operation}:{per}={value}",
        detail={"operation": key.operation, "per": per, "value": value, "limits": cleared},
    )
    return RateLimitCleared(operation=key.operation, per=per, value=value, limits_cleared=cleared)
