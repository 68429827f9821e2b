"""A point in time in an answer's model, written as the services always wrote it.

The services' answers were plain dicts, encoded by FastAPI with `datetime.isoformat()` (`…+00:00`); a pydantic model
would write a UTC time as `…Z`. Both are RFC 3339, but a client comparing strings, or a test, would see a change:
typing an answer for the public OpenAPI must not change its bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
