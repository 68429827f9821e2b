"""Settings of the notify service (environment, prefix SEKISHO_)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    pass
