"""Logs are JSON lines that carry the request id."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from shared.logs import JsonFormatter, configure_logging, request_id_var


@pytest.fixture
def configured() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_log_line_is_json_with_the_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("sekisho.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.status = 201
    token = request_id_var.set("rid-7")
    try:
        line = json.loads(JsonFormatter("auth").format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "hello world"
    assert line["request_id"] == "rid-7"
    assert line["service"] == "auth"
    assert line["status"] == 201
    assert line["level"] == "info"


async def test_a_forwarded_query_never_reaches_the_logs(configured: None, capsys: pytest.CaptureFixture[str]) -> None:
    """DATA-1: what staff typed into a query (a reason, an IP searched) is not written to the logs by the HTTP client
    that forwards it; our own access line logs the path alone (tests/shared/test_access_log.py)."""
    configure_logging("gateway", "INFO")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with httpx.AsyncClient(transport=transport, base_url="http://auth") as client:
        query = {"full": "true", "reason": "本人から電話 090-1234"}
        answered = await client.get("/v1/ops/customers/cus_x", params=query)
    assert answered.status_code == 200
    logging.getLogger("sekisho.test").info("a line of our own")
    written = capsys.readouterr().err
    assert "a line of our own" in written  # the handler writes: the query's absence below is not silence
    assert "090-1234" not in written
    assert "reason" not in written
