"""Annotated aliases of txn's routes: its runtime, and the customer, partner or staff member the gateway vouches for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.txn.bank_links import Caller
from services.txn.runtime import TxnRuntime
from shared.audit import Actor
from shared.dependencies import IdentityDep, runtime_dependency
from shared.problems import Problem
from shared.roles import require_staff

RuntimeDep = Annotated[TxnRuntime, Depends(runtime_dependency(TxnRuntime))]


async def current_customer(identity: IdentityDep) -> str:
    context = identity.context
    if identity.caller != "gateway" or context.get("subject_type") != "customer" or not context.get("subject"):
        raise Problem("This route needs a signed-in customer.", code="unauthorized", status=401)
    return str(context["subject"])


CustomerDep = Annotated[str, Depends(current_customer)]


async def customer_caller(identity: IdentityDep, customer_id: CustomerDep) -> Caller:
    """The customer with what the gateway vouches for about this request: device, IP and the step-up it redeemed
    for this very request (bank links check it is a possession factor, LINK-1)."""
    context = identity.context
    step_up = context.get("step_up")
    granted = step_up if isinstance(step_up, dict) else {}
    return Caller(
        customer_id=customer_id,
        device_id=str(context["device_id"]) if context.get("device_id") else None,
        ip=str(context["client_ip"]) if context.get("client_ip") else None,
        step_up_class=str(granted["class"]) if granted.get("class") else None,
        step_up_method=str(granted["method"]) if granted.get("method") else None,
    )


CallerDep = Annotated[Caller, Depends(customer_caller)]


@dataclass(frozen=True)
class Partner:
    partner_id: str
    partner_name: str


async def current_partner(identity: IdentityDep) -> Partner:
    """The ATM network whose signature the gateway verified (API.md "Partner ATM network API")."""
    context = identity.context
    if identity.caller != "gateway" or not context.get("partner_id"):
        raise Problem("This route needs a signed partner request.", code="unauthorized", status=401)
    return Partner(str(context["partner_id"]), str(context.get("partner_name") or context["partner_id"]))


PartnerDep = Annotated[Partner, Depends(current_partner)]


def staff_with(role: str) -> object:
    """A staff member of at least `role`, checked again here: a call that bypassed the gateway cannot act (DATA-3)."""

    async def check(identity: IdentityDep) -> Actor:
        require_staff(identity, role)
        return Actor.of(identity)

    return Depends(check)


AnalystDep = Annotated[Actor, staff_with("analyst")]
SupervisorDep = Annotated[Actor, staff_with("supervisor")]
