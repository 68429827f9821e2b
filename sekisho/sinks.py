"""Local stand-ins for the outside world: an SMTP server (aiosmtpd) and an HTTP SMS provider, both real, on loopback.

Tests and benchmarks point notify at them (SEKISHO_SMTP_HOST/PORT, SEKISHO_SMS_URL) and read what arrived.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from sekisho.launcher import free_ports


@dataclass
class ReceivedSms:
    to: str
    body: str
    delivery_id: str | None
    received_at: float = field(default_factory=time.time)


class SmtpSink:
    """An SMTP server that keeps every message it accepts; it can be stopped and started on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_ports(1)[0]
        self.messages: list[EmailMessage] = []
        self.arrival_times: list[float] = []  # time.time() of each message, same order
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.arrival_times.append(time.time())
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


@dataclass
class SmsSink:
    """An HTTP SMS provider: POST {"to", "body"} -> 202; `fail_with` makes it answer an error instead."""

    port: int = field(default_factory=lambda: free_ports(1)[0])
    received: list[ReceivedSms] = field(default_factory=list)
    fail_with: int | None = None

    def __post_init__(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                payload = json.loads(self.rfile.read(length))
                status = sink.fail_with or 202
                if status < 300:
                    sink.received.append(
                        ReceivedSms(payload["to"], payload["body"], self.headers.get("x-sekisho-delivery"))
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    def start(self) -> SmsSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
