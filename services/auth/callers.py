"""Who is calling, as the gateway vouched for it inside the signed internal identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from shared.dependencies import IdentityDep
from shared.problems import Problem
from shared.roles import has_role
from shared.tokens import Factor


@dataclass(frozen=True)
class Caller:
    subject: str
    session_id: str
    device_id: str | None
    factors: tuple[Factor, ...]
    acr: str
    role: str | None
    # The factor of the Step-Up-Grant the gateway redeemed for this very request, if any.
    step_up: Factor | None = None

    @property
    def mfa(self) -> bool:
        return len({factor.cls for factor in self.factors}) >= 2


def _caller(identity: IdentityDep, subject_type: str) -> Caller:
    context = identity.context
    if identity.caller != "gateway" or context.get("subject_type") != subject_type or not context.get("subject"):
        raise Problem("This route needs a signed-in caller.", code="unauthorized", status=401)
    return Caller(
        subject=str(context["subject"]),
        session_id=str(context.get("session_id", "")),
        device_id=context.get("device_id"),
        factors=tuple(Factor.from_claim(item) for item in context.get("factors", [])),
        acr=str(context.get("acr", "aal1")),
        role=context.get("role"),
        step_up=Factor.from_claim(context["step_up"]) if context.get("step_up") else None,
    )


async def current_customer(identity: IdentityDep) -> Caller:
    return _caller(identity, "customer")


async def current_staff(identity: IdentityDep) -> Caller:
    return _caller(identity, "staff")


def require_role(caller: Caller, role: str) -> None:
    """The service checks the role again: a call that bypassed the gateway's check still cannot act (DATA-3)."""
    if not has_role(caller.role, role):
        raise Problem(f"This action needs the {role} role.", code="forbidden", status=403)


CustomerDep = Annotated[Caller, Depends(current_customer)]
StaffDep = Annotated[Caller, Depends(current_staff)]
