"""The attacks run against the whole system in-process, as the auth tests do (tests/auth/conftest.py): every
service with its lifespan, the gateway reached over HTTP through httpx, real SMTP and SMS stand-ins behind notify."""

from tests.auth.conftest import system

__all__ = ["system"]
