"""The in-process gateway on a real port, for a browser: every request to http://localhost:PORT is relayed, headers
and all, to the test's gateway (an httpx client on the test's event loop), and its whole answer, headers included
(the console's Content-Security-Policy among them), goes back to the browser as the gateway gave it."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# What a browser's request carries to the gateway; its own other headers (cookies included) stay behind.
RELAYED_REQUEST_HEADERS = ("authorization", "content-type", "accept", "accept-language", "user-agent")
# Answered by this server itself: the gateway's framing does not apply to the re-sent body.
HOP_BY_HOP = ("content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive")


class GatewayRelay:
    def __init__(self) -> None:
        self.gateway: httpx.AsyncClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.relayed: list[tuple[str, str, int]] = []  # (method, path, status) of each request
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() in RELAYED_REQUEST_HEADERS}
                status, answer_headers, content = relay.forward(self.command, self.path, body, headers)
                self.send_response(status)
                for name, value in answer_headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, name=f"relay-{self.port}", daemon=True)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> GatewayRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def relay_to(self, gateway: httpx.AsyncClient) -> None:
        """Send the browser's requests to `gateway`, on the event loop of the caller (the test's)."""
        self.gateway, self.loop = gateway, asyncio.get_running_loop()

    def forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.gateway is None or self.loop is None:
            return 503, [("Content-Type", "text/plain")], b"no gateway"
        call = self.gateway.request(method, path, content=body or None, headers=headers)
        response = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=30)
        self.relayed.append((method, path, response.status_code))
        return response.status_code, list(response.headers.multi_items()), response.content
