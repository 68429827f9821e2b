"""The ops console as its browser tests drive it: one tab on /ops/, staff signed in with password and TOTP, and what
went wrong in the page that a page must never do. Fixtures in conftest.py; tests in this folder."""

from __future__ import annotations

from pathlib import Path

import pyotp
from playwright.sync_api import ConsoleMessage

from tests.auth.test_staff import make_staff
from tests.browser.chromium import Chromium, Tab
from tests.harness import System

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ops-console"
SESSION = "sekisho.ops.session"
EMPTY = "該当するものはありません。"  # the console's "nothing to show", in Japanese (its default language)


class Console:
    """One browser tab on the console, and what went wrong in it that a page must never do (an uncaught error, a
    Content-Security-Policy or Trusted Types violation)."""

    def __init__(self, tab: Tab, origin: str) -> None:
        self.tab, self.page, self.origin = tab, tab.page, origin
        self.faults: list[str] = []
        self.expected: list[str] = []  # what a test provokes on purpose (`expect`) is kept apart from faults
        self.provoked: list[str] = []
        self.page.set_default_timeout(15_000)
        self.page.on("pageerror", lambda error: self.faults.append(f"pageerror: {error}"))
        self.page.on("console", self._console)

    def _console(self, entry: ConsoleMessage) -> None:
        text = entry.text
        if "Content Security Policy" in text or "Trusted" in text:
            (self.provoked if any(e in text for e in self.expected) else self.faults).append(text)

    def expect(self, text: str) -> None:
        self.expected.append(text)

    def sign_in(self, login_id: str, password: str, code: str) -> None:
        page = self.page
        page.goto(self.origin + "/ops/")
        page.fill("#login-form input[name=login_id]", login_id)
        page.fill("#login-form input[name=password]", password)
        page.click("#login-form button[type=submit]")
        page.fill("#totp-form input[name=code]", code)
        page.click("#totp-form button[type=submit]")
        page.wait_for_selector("#nav:not([hidden])")

    def go(self, page_name: str) -> None:
        self.page.click(f"#nav a[data-page={page_name}]")

    def access_token(self) -> str:
        token: str = self.page.evaluate(f"JSON.parse(sessionStorage.getItem('{SESSION}')).access_token")
        return token

    def screenshot(self, name: str) -> None:
        self.tab.screenshot(ARTIFACTS / f"{name}.png")


async def staff_member(system: System, login_id: str, role: str) -> dict[str, str]:
    created = await make_staff(system, login_id, role)
    return {**created, "code": pyotp.TOTP(created["totp_secret"]).at(system.clock.timestamp())}


async def signed_in(chromium: Chromium, console: Console, member: dict[str, str]) -> None:
    await chromium.run(console.sign_in, member["login_id"], member["password"], member["code"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
