"""JSON-lines logging: one object per line, each carrying the request id of the request it belongs to."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("sekisho_request_id", default=None)

# Attributes every LogRecord has; anything else passed through `extra=` is logged as a field.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO", stream: str = "stderr") -> None:
    """Route every logger (ours, uvicorn's, SQLAlchemy's) through one JSON handler on stderr (or stdout)."""
    handler = logging.StreamHandler(sys.stdout if stream == "stdout" else sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own access line (shared.middleware) replaces uvicorn's, which has no request id.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every call it makes with its whole URL at INFO: a forward's query (an ops search by IP, a staff
    # member's reason for reading full values) would reach the logs that way (DATA-1). Our access line logs the
    # path alone; httpx says something only when it goes wrong.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
