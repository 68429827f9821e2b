"""The partner's signer the tests use: sekisho/partner_client.py, written from API.md alone."""

from sekisho.partner_client import COMPONENTS, content_digest, secret_bytes, sign

__all__ = ["COMPONENTS", "content_digest", "secret_bytes", "sign"]
