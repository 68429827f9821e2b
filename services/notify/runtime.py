"""What the notify service's routes work with beyond every service's state, built once at start-up (app.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.notify.delivery import DeliveryWorker
from services.notify.rendering import Renderer
from services.notify.settings import NotifySettings
from shared.dependencies import runtime_dependency


@dataclass
class NotifyRuntime:
    settings: NotifySettings
    renderer: Renderer
    worker: DeliveryWorker


RuntimeDep = Annotated[NotifyRuntime, Depends(runtime_dependency(NotifyRuntime))]
