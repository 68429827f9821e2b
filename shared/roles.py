"""Staff roles: analyst < supervisor < admin, checked at the gateway and again by the owning service."""

from __future__ import annotations

from shared.identity import ServiceIdentity
from shared.problems import Problem

ROLE_RANK = {"analyst": 1, "supervisor": 2, "admin": 3}


def has_role(role: str | None, needed: str) -> bool:
    return ROLE_RANK.get(role or "", 0) >= ROLE_RANK[needed]


def require_staff(identity: ServiceIdentity, needed: str) -> str:
    """The staff member's id when the gateway vouches for a staff caller with at least `needed`; else 401/403."""
    context = identity.context
    if identity.caller != "gateway" or context.get("subject_type") != "staff" or not context.get("subject"):
        raise Problem("This route needs a signed-in staff member.", code="unauthorized", status=401)
    if not has_role(context.get("role"), needed):
        raise Problem(f"This action needs the {needed} role.", code="forbidden", status=403)
    return str(context["subject"])


def is_outsourced(identity: ServiceIdentity) -> bool:
    """Whether the gateway vouches for an outsourced operator (the staff token's `osc`, DATA-4)."""
    return identity.context.get("outsourced") is True


def refuse_outsourced(identity: ServiceIdentity, what: str) -> None:
    """DATA-4: an outsourced operator never gets `what` (full values, the indicator export, the audit trail),
    whatever their role; 403 `outsourced_restricted`."""
    if is_outsourced(identity):
        raise Problem(f"Outsourced operators may not {what}.", code="outsourced_restricted", status=403)
