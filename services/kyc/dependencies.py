"""Annotated aliases of kyc's routes: its runtime, and the customer or staff member the gateway vouches for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.kyc.runtime import KycRuntime
from shared.dependencies import IdentityDep, runtime_dependency
from shared.problems import Problem
from shared.roles import has_role, require_staff

RuntimeDep = Annotated[KycRuntime, Depends(runtime_dependency(KycRuntime))]


async def current_customer(identity: IdentityDep) -> str:
    context = identity.context
    if identity.caller != "gateway" or context.get("subject_type") != "customer" or not context.get("subject"):
        raise Problem("This route needs a signed-in customer.", code="unauthorized", status=401)
    return str(context["subject"])


CustomerDep = Annotated[str, Depends(current_customer)]


@dataclass(frozen=True)
class Reviewer:
    staff_id: str
    role: str

    def may(self, role: str) -> bool:
        return has_role(self.role, role)


async def current_reviewer(identity: IdentityDep) -> Reviewer:
    """An analyst or above, checked again here: a call that bypassed the gateway's check still cannot act (DATA-3)."""
    staff_id = require_staff(identity, "analyst")
    return Reviewer(staff_id, str(identity.context.get("role", "")))


ReviewerDep = Annotated[Reviewer, Depends(current_reviewer)]
