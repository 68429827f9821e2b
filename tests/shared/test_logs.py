"""Logs are JSON lines that carry the request id."""

from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter, request_id_var


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
