"""What the fraud service's routes work with beyond every service's state, built once at start-up (app.py)."""

from __future__ import annotations

from dataclasses import dataclass
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


def fraud_runtime(state: ServiceState) -> FraudRuntime:
    return runtime_of(state, FraudRuntime)


RuntimeDep = Annotated[FraudRuntime, Depends(runtime_dependency(FraudRuntime))]
