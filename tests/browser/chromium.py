"""Headless Chromium (Debian's, `make browsers`) with a virtual WebAuthn authenticator, and the page it is shown.

Playwright's sync API drives the browser from one thread of its own, so that the async tests (and the in-process
system they run on one event loop) can wait for it without blocking: `await chromium.run(fn, ...)` runs `fn` on
that thread. The page is served by `PageServer` on 127.0.0.1, reached as http://localhost:PORT (a secure context,
as WebAuthn requires, with RP ID `localhost`); its `/api/...` requests are relayed to the gateway in-process, on the
test's event loop, so that the page talks to the API as an app would.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.sync_api import Browser, CDPSession, Page, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
PAGE = (Path(__file__).with_name("passkey_page.html")).read_bytes()
# What a request to the API carries from the page: anything else (cookies, the browser's own headers) stays behind.
RELAYED_HEADERS = ("authorization", "step-up-grant", "content-type", "user-agent")
T = TypeVar("T")


class PageServer:
    """The test page on 127.0.0.1:PORT; `/api/<path>` goes to `gateway` (an httpx client on `loop`)."""

    def __init__(self) -> None:
        self.gateway: httpx.AsyncClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.relayed: list[tuple[str, str, int]] = []  # (method, path, status) of each request relayed
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/api/"):
                    self._relay("GET")
                    return
                self._answer(200, PAGE, "text/html; charset=utf-8")

            def do_POST(self) -> None:
                self._relay("POST")

            def do_PATCH(self) -> None:
                self._relay("PATCH")

            def do_DELETE(self) -> None:
                self._relay("DELETE")

            def _relay(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() in RELAYED_HEADERS}
                status, content = server.forward(method, self.path.removeprefix("/api"), body, headers)
                self._answer(status, content, "application/json")

            def _answer(self, status: int, content: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, name=f"page-{self.port}", daemon=True)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> PageServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def relay_to(self, gateway: httpx.AsyncClient) -> None:
        """Send the page's API requests to `gateway`, on the event loop of the caller (the test's)."""
        self.gateway, self.loop = gateway, asyncio.get_running_loop()

    def forward(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.gateway is None or self.loop is None:
            return 503, json.dumps({"code": "no_gateway"}).encode()
        call = self.gateway.request(method, path, content=body or None, headers=headers)
        response = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=30)
        self.relayed.append((method, path, response.status_code))
        return response.status_code, response.content


class Tab:
    """One browser tab with its own virtual authenticator (CTAP2, built in, resident keys, user verified)."""

    def __init__(self, page: Page, cdp: CDPSession, authenticator_id: str) -> None:
        self.page, self.cdp, self.authenticator_id = page, cdp, authenticator_id

    def open(self, url: str) -> None:
        self.page.goto(url)

    def call(self, function: str, *args: Any) -> Any:
        """Call one of the page's functions with JSON arguments; its (awaited) result."""
        return self.page.evaluate(f"(args) => {function}(...args)", list(args))

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})
        return list(found["credentials"])

    def replace_credential(self, credential: dict[str, Any]) -> None:
        """Put this credential (as WebAuthn.getCredentials gave it, perhaps changed) in place of the one of its id."""
        ids = {"authenticatorId": self.authenticator_id, "credentialId": credential["credentialId"]}
        self.cdp.send("WebAuthn.removeCredential", ids)
        self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.authenticator_id, "credential": credential})

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)

    def close(self) -> None:
        self.page.context.close()


class Chromium:
    """Debian's Chromium, headless, driven from one thread of its own."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def start(self) -> Chromium:
        self._pool.submit(self._start).result(timeout=60)
        return self

    def _start(self) -> None:
        self._playwright = sync_playwright().start()
        # --no-sandbox: tests run as root on CI, where Chromium's sandbox refuses to start.
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])

    def stop(self) -> None:
        def close() -> None:
            if self._browser is not None:
                self._browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        self._pool.submit(close).result(timeout=60)
        self._pool.shutdown()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` on the browser's thread, and wait for it without blocking the event loop."""
        return await asyncio.wrap_future(self._pool.submit(function, *args))

    def new_tab(self) -> Tab:
        """A fresh context (no cookies, no credentials) with a tab and its authenticator; call it with `run`."""
        assert self._browser is not None
        page = self._browser.new_context().new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        added = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        return Tab(page, cdp, added["authenticatorId"])
