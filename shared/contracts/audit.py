"""every service with staff routes → auth: the staff audit trail (SEC-6), sent through the outbox.

- `POST /internal/audit` (auth; gateway, kyc, txn, fraud, notify) with `AuditEntryIn` → 201 stored, 200 already.
- `POST /internal/audit/batch` with shared/batches.py's envelope, each body an `AuditEntryIn`.
shared/audit.py's `audit_entry` writes them; services/auth/audit.py stores them (auth's own entries too).
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AuditEntryIn(BaseModel):
    """An entry as a service sends it (shared.audit.audit_entry) and auth stores it."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str = Field(min_length=8, max_length=40)
    at: AwareDatetime
    service: str = Field(min_length=1, max_length=16, pattern=r"^[a-z]+$")
    actor_id: str = Field(min_length=1, max_length=40)
    actor_role: str = Field(min_length=1, max_length=16)
    session_id: str = Field(max_length=40)
    ip: str = Field(max_length=64)
    action: str = Field(min_length=3, max_length=40, pattern=r"^[a-z_]+(\.[a-z_]+)+$")
    target_type: str = Field(min_length=1, max_length=24)
    target_id: str = Field(max_length=80)
    detail: dict[str, Any] = Field(default_factory=dict)
    outsourced: bool = False  # the actor is an outsourced operator (DATA-4), as the gateway vouched
