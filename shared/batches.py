"""Several outbox messages in one request: the envelope the relay sends and the answer a receiver gives.

A receiver that offers a batch route takes `{"messages": [{"key": …, "body": …}]}`, where each body is
exactly what its single-message route takes and each key is that message's idempotency key, and answers
200 with one result per message, in order: the status the single route would have given it (201 stored,
200 already stored, 422 refused with a detail). One bad message never refuses the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


M = TypeVar("M", bound=BaseModel)


def accept(batch: BatchIn, model: type[M], key_of: Callable[[M], str]) -> tuple[list[M], dict[str, str]]:
    """Validate each message's body as `model`: (the valid ones, {key: why} for those refused).

    A message whose key is not its body's own id (`key_of`) is refused: the key is how the sender
    deduplicates, so it must name the very message it carries.
    """
    valid: list[M] = []
    refused: dict[str, str] = {}
    for message in batch.messages:
        try:
            item = model.model_validate(message.body)
        except ValidationError as exc:
            refused[message.key] = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            continue
        if key_of(item) != message.key:
            refused[message.key] = "the key must be the message's own id"
            continue
        valid.append(item)
    return valid, refused


def answer(batch: BatchIn, refused: dict[str, str], created: set[str]) -> BatchOut:
    """One result per message, in order: 422 refused, 201 stored now, 200 stored before."""
    return BatchOut(
        results=[
            BatchResult(key=m.key, status=422, detail=refused[m.key])
            if m.key in refused
            else BatchResult(key=m.key, status=201 if m.key in created else 200)
            for m in batch.messages
        ]
    )
