"""Several outbox messages in one request: the envelope the relay sends and the answer a receiver gives.

A receiver that offers a batch route takes `{"messages": [{"key": …, "body": …}]}`, where each body is
exactly what its single-message route takes and each key is that message's idempotency key, and answers
200 with one result per message, in order: the status the single route would have given it (201 stored,
200 already stored, 422 refused with a detail). One bad message never refuses the others.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 100


class BatchMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200)
    body: dict[str, Any]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[BatchMessage] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    key: str
    status: int
    detail: str | None = None


class BatchOut(BaseModel):
    results: list[BatchResult]
