"""What the fraud service's routes work with beyond every service's state, built once at start-up (app.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends

from services.fraud.scoring import Scorer
from shared.database import Database
from shared.dependencies import runtime_dependency, runtime_of
from shared.service import ServiceState


@dataclass
class FraudRuntime:
    service: ServiceState  # what every service holds: the database, the outbox, the clock
    scorer: Scorer
    # The connections /score reads with: the service's own database, or on PostgreSQL a pool whose statements are
    # planned generically (app.py).
    score_reads: Database
    # A score reads on two connections at once; each request takes its pair under this lock, so that as many
    # requests as the pool has connections can never each hold one and wait for a second (they all would wait).
    score_pair: asyncio.Lock = field(default_factory=asyncio.Lock)


def fraud_runtime(state: ServiceState) -> FraudRuntime:
    return runtime_of(state, FraudRuntime)


RuntimeDep = Annotated[FraudRuntime, Depends(runtime_dependency(FraudRuntime))]
