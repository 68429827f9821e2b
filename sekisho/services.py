"""Where each service's app factory and migrations live: the one list the command-line tool works from."""

from __future__ import annotations

import importlib
from pathlib import Path

from shared.settings import SERVICE_NAMES

ROOT = Path(__file__).resolve().parent.parent


def app_factory(service: str) -> str:
    """The import string uvicorn runs with --factory."""
    return f"services.{service}.app:create_app"


def migrations_dir(service: str) -> Path:
    module = importlib.import_module(f"services.{service}.app")
    path: Path = module.MIGRATIONS
    return path


def settings_class(service: str) -> type:
    module = importlib.import_module(f"services.{service}.settings")
    for name in dir(module):
        if name.lower() == f"{service}settings":
            cls: type = getattr(module, name)
            return cls
    raise LookupError(f"no settings class in services.{service}.settings")


__all__ = ["ROOT", "SERVICE_NAMES", "app_factory", "migrations_dir", "settings_class"]
