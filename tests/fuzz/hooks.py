"""Schemathesis hooks for `make fuzz` (loaded by the fuzzer's process through SCHEMATHESIS_HOOKS): partner routes
are signed as a partner signs them (RFC 9421, sekisho/partner_client.py), over the exact bytes and URL sent, so that
the fuzzer gets past the signature check into the routes themselves."""

from __future__ import annotations

import os
import time
from typing import Any

import requests
import schemathesis

from sekisho.partner_client import sign

PARTNER_SCHEME = "partnerSignature"


class PartnerSignature(requests.auth.AuthBase):
    """A requests auth: it runs on the prepared request, after the body is serialized, so the digest is the body's."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        method, url = str(request.method), str(request.url)
        request.headers.update(
            sign(method, url, body, key_id=self.key_id, secret=self.secret, created=int(time.time()))
        )
        return request


def _signed_by_a_partner(case: Any) -> bool:
    security = case.operation.definition.raw.get("security") or []
    return any(PARTNER_SCHEME in requirement for requirement in security)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    key_id, secret = os.environ.get("SEKISHO_FUZZ_PARTNER_KEY_ID"), os.environ.get("SEKISHO_FUZZ_PARTNER_SECRET")
    if key_id and secret and _signed_by_a_partner(case):
        kwargs["auth"] = PartnerSignature(key_id, secret)
