"""`GET /.well-known/jwks.json`: the public keys access tokens verify with, as a JWK Set (RFC 7517, keys as RFC 8037
OKP Ed25519 for EdDSA), for anyone who checks a sekisho access token outside the gateway.

The keys are auth's published list as the gateway holds it (bearer.py: at most a minute old): during a rotation the
signing key and the overlap's; a dropped key leaves it. Public and cacheable, for less than the gateway's own refresh,
so a cache never holds a dropped key much longer than the gateway does.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from services.gateway.runtime import RuntimeDep
from services.gateway.schemas import JwkSet
from shared.tokens import public_jwk

PATH = "/.well-known/jwks.json"
MAX_AGE_SECONDS = 60

router = APIRouter(tags=["gateway"])


class JwkSetResponse(JSONResponse):
    media_type = "application/jwk-set+json"


@router.get(
    PATH,
    response_class=JwkSetResponse,
    responses={200: {"description": "a JWK Set", "model": JwkSet}},
)
async def jwks(runtime: RuntimeDep) -> JSONResponse:
    keys = await runtime.bearer.published_keys()
    return JwkSetResponse(
        {"keys": [public_jwk(pem, kid) for kid, pem in keys.items()]},
        headers={"Cache-Control": f"public, max-age={MAX_AGE_SECONDS}"},
    )
