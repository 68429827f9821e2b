"""Routes the gateway answers itself for partner ATM networks; mounted before the proxy's catch-all route."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from services.gateway import admission
from services.gateway.routes import PING
from services.gateway.runtime import RuntimeDep
from services.gateway.schemas import PartnerPing
from shared.problems import Problem

router = APIRouter(tags=["partner"])


@router.post(PING.path)
async def ping(request: Request, runtime: RuntimeDep) -> PartnerPing:
    """A signed request answered with the partner and key it authenticated as: partners test their signing here.
    Its IP rules, kill switches and rate limits are those of any partner route."""
    admitted = await admission.admit(request, runtime, PING)
    caller = await admission.admit_partner(request, runtime, PING, admitted)
    body = await request.body()
    if body:
        try:
            json.loads(body)
        except ValueError as exc:
            raise Problem("The body is not JSON.", code="bad_request", status=400) from exc
    return PartnerPing(partner=caller.partner_name, key_id=caller.key_id)
