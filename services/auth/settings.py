"""Settings of the auth service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    pass
