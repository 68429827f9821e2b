"""The ops console in headless Chromium: staff sign in with password and TOTP at /ops/ and work the fraud desk through
the public ops API only, with what the API says checked afterwards over HTTP.

The in-process system's gateway answers the browser on a real port (tests/browser/gateway_relay.py), so that the page,
its modules and their Content-Security-Policy come from the gateway exactly as staff would get them. The clock stands
still at the real time the system started (TOTP codes are computed for it). One browser for the module, a fresh
context for each test; screenshots go to test-artifacts/ops-console/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import ConsoleMessage

from sekisho.sinks import SmsSink, SmtpSink
from shared.clock import FrozenClock
from shared.tokens import LEEWAY_SECONDS
from tests.auth.conftest import CUSTOMER, SIGNING_KEY, open_account
from tests.auth.test_staff import make_staff
from tests.browser.chromium import CHROMIUM, Chromium, Tab
from tests.browser.gateway_relay import GatewayRelay
from tests.fraud.test_cases import mule_phone_case
from tests.fraud.test_ops_api import put_events
from tests.harness import Backend, System, in_process_system
from tests.kyc.conftest import ADDRESS, KYC, ekyc_body, signed_in_again, start
from tests.kyc.test_ops_review import in_review
from tests.servers import eventually_async

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ops-console"
SESSION = "sekisho.ops.session"
XSS = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browsers` installs Debian's Chromium")
    browser = Chromium().start()
    yield browser
    browser.stop()


@pytest.fixture(scope="module")
def relay() -> Iterator[GatewayRelay]:
    server = GatewayRelay().start()
    yield server
    server.stop()


@pytest.fixture
async def system(backend: Backend, smtp: SmtpSink, sms: SmsSink, relay: GatewayRelay) -> AsyncIterator[System]:
    overrides = {
        "auth": {"auth_signing_key": SIGNING_KEY},
        "kyc": KYC,
        "notify": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "sms_url": sms.url, "delivery_poll_seconds": 0.05},
    }
    async with in_process_system(backend, overrides, clock=FrozenClock(datetime.now(UTC))) as running:
        relay.relay_to(running.gateway)
        yield running


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


@pytest.fixture
async def console(chromium: Chromium, relay: GatewayRelay, system: System) -> AsyncIterator[Console]:
    tab = await chromium.run(chromium.new_tab)
    opened = Console(tab, relay.origin)
    yield opened
    await chromium.run(tab.close)
    assert opened.faults == []


async def staff_member(system: System, login_id: str, role: str) -> dict[str, str]:
    created = await make_staff(system, login_id, role)
    return {**created, "code": pyotp.TOTP(created["totp_secret"]).at(system.clock.timestamp())}


async def signed_in(chromium: Chromium, console: Console, member: dict[str, str]) -> None:
    await chromium.run(console.sign_in, member["login_id"], member["password"], member["code"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- sign-in and trends -------------------------------------------------------------------------------------------


def _wrong_password_then_wrong_code(console: Console, member: dict[str, str]) -> tuple[str, str]:
    page = console.page
    page.goto(console.origin + "/ops/")
    page.fill("#login-form input[name=login_id]", member["login_id"])
    page.fill("#login-form input[name=password]", "not-the-password")
    page.click("#login-form button[type=submit]")
    wrong_password = page.locator("#login-form [role=alert]").text_content() or ""
    page.fill("#login-form input[name=password]", member["password"])
    page.click("#login-form button[type=submit]")
    page.fill("#totp-form input[name=code]", "000000" if member["code"] != "000000" else "111111")
    page.click("#totp-form button[type=submit]")
    wrong_code = page.locator("#totp-form [role=alert]").text_content() or ""
    page.fill("#totp-form input[name=code]", member["code"])
    page.click("#totp-form button[type=submit]")
    page.wait_for_selector("svg.trend-chart circle.point")
    return wrong_password, wrong_code


def _chart(console: Console) -> dict[str, Any]:
    return dict(
        console.page.evaluate(
            """() => {
              const chart = document.querySelector("svg.trend-chart");
              const points = [...chart.querySelectorAll("circle.point")].map((c) => ({
                at: c.getAttribute("data-at"), type: c.getAttribute("data-type"),
                outcome: c.getAttribute("data-outcome"), count: Number(c.getAttribute("data-count")),
                cy: Number(c.getAttribute("cy")),
              }));
              return {since: chart.getAttribute("data-since"), until: chart.getAttribute("data-until"), points,
                      legend: [...document.querySelectorAll("ul.legend li")].map((li) => li.textContent.trim()),
                      stored: [localStorage.length, document.cookie, Object.keys(sessionStorage)]};
            }"""
        )
    )


def _only_type(console: Console, event_type: str) -> list[str]:
    page = console.page
    page.select_option("select[name=type]", event_type)
    page.wait_for_function(
        "(type) => { const points = [...document.querySelectorAll('svg.trend-chart circle.point')];"
        " return points.length > 0 && points.every((c) => c.getAttribute('data-type') === type); }",
        arg=event_type,
    )
    types: list[str] = page.eval_on_selector_all("svg.trend-chart circle.point", "cs => cs.map((c) => c.dataset.type)")
    return types


async def test_staff_sign_in_with_password_and_totp_and_see_the_trend_chart_with_the_apis_counts(
    system: System, chromium: Chromium, console: Console, relay: GatewayRelay
) -> None:
    base = (system.clock.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    failed = {"type": "login_failed", "outcome": "wrong_password"}
    await put_events(
        system,
        {**failed, "occurred_at": base + timedelta(minutes=5)},
        {**failed, "occurred_at": base + timedelta(minutes=10)},
        {**failed, "occurred_at": base + timedelta(minutes=40)},
        {"type": "login_succeeded", "occurred_at": base + timedelta(minutes=15)},
        {"type": "login_succeeded", "occurred_at": base + timedelta(hours=1, minutes=2)},
        {"type": "login_failed", "outcome": "locked", "occurred_at": base + timedelta(hours=2, minutes=1)},
    )
    analyst = await staff_member(system, "analyst.kimura", "analyst")

    wrong_password, wrong_code = await chromium.run(_wrong_password_then_wrong_code, console, analyst)
    # The problem documents' own words, as the API gave them.
    refused = await system.gateway.post("/v1/ops/auth/login", json={"login_id": "nobody", "password": "x" * 12})
    assert wrong_password == refused.json()["detail"]
    assert wrong_code
    assert "access_token" not in wrong_code

    chart = await chromium.run(_chart, console)
    await chromium.run(console.screenshot, "trends")
    # The token lives in sessionStorage only: nothing in localStorage, no cookie.
    assert chart["stored"][:2] == [0, ""]
    assert SESSION in chart["stored"][2]
    assert await chromium.run(lambda: console.page.context.cookies()) == []

    answer = await system.gateway.get(
        "/v1/ops/fraud/trends",
        params={"bucket": "hour", "since": chart["since"], "until": chart["until"]},
        headers=bearer(await chromium.run(console.access_token)),
    )
    assert answer.status_code == 200, answer.text
    drawn = sorted((p["at"], p["type"], p["outcome"], p["count"]) for p in chart["points"])
    assert drawn == sorted((p["at"], p["type"], p["outcome"], p["count"]) for p in answer.json()["series"])
    hour = base.isoformat()
    seeded = {
        (hour, "login_failed", "wrong_password", 3),
        (hour, "login_succeeded", "ok", 1),
        ((base + timedelta(hours=1)).isoformat(), "login_succeeded", "ok", 1),
        ((base + timedelta(hours=2)).isoformat(), "login_failed", "locked", 1),
    }
    assert seeded <= set(drawn)
    # Drawn to scale: the hour with three failures stands higher (a smaller y) than an hour with one.
    heights = {(p["at"], p["type"], p["outcome"]): p["cy"] for p in chart["points"]}
    assert heights[(hour, "login_failed", "wrong_password")] < heights[(hour, "login_succeeded", "ok")]
    assert "login_failed / wrong_password: 3" in chart["legend"]
    # One event type: the API is asked for that type only, and the chart shows only it.
    assert set(await chromium.run(_only_type, console, "login_failed")) == {"login_failed"}
    assert any("type=login_failed" in path for _, path, _ in relay.relayed)


# ---- cases --------------------------------------------------------------------------------------------------------


def _resolve_case(console: Console, case_id: str, note: str) -> dict[str, Any]:
    page = console.page
    console.go("cases")
    page.click(f"a[href='#/cases/{case_id}']")
    page.wait_for_selector("form.resolve")
    reasons = page.locator("table").first.text_content() or ""
    page.select_option("form.resolve select[name=label]", "fraud")
    page.fill("form.resolve textarea[name=note]", note)
    page.click("form.resolve button[type=submit]")
    page.wait_for_selector("dl.facts[data-status=resolved]")
    facts = page.eval_on_selector_all("dl.facts dd", "dds => dds.map((dd) => dd.textContent)")
    pwned = page.evaluate("window.__pwned === undefined && document.querySelectorAll('img[src=x]').length === 0")
    console.screenshot("case-resolved")
    return {"reasons": reasons, "facts": facts, "clean": pwned}


async def test_an_analyst_resolves_a_case_from_the_queue_and_the_api_shows_it_resolved(
    system: System, chromium: Chromium, console: Console
) -> None:
    case_id = await mule_phone_case(system)
    await signed_in(chromium, console, await staff_member(system, "analyst.hara", "analyst"))
    done = await chromium.run(_resolve_case, console, case_id, "同一端末で3人の顧客: ミュール端末と判断")
    assert "mule_device" in done["reasons"]
    assert {"対応済み", "不正"} <= set(done["facts"])  # status and label, in the page's language
    assert "同一端末で3人の顧客: ミュール端末と判断" in done["facts"]

    token = await chromium.run(console.access_token)
    case = await system.gateway.get(f"/v1/ops/fraud/cases/{case_id}", headers=bearer(token))
    assert (case.json()["status"], case.json()["label"]) == ("resolved", "fraud")
    assert case.json()["note"] == "同一端末で3人の顧客: ミュール端末と判断"
    queue = await system.gateway.get("/v1/ops/fraud/cases", params={"status": "open"}, headers=bearer(token))
    assert queue.json()["cases"] == []


# ---- KYC ----------------------------------------------------------------------------------------------------------


def _review_kyc(console: Console, verification_id: str) -> dict[str, Any]:
    page = console.page
    console.go("kyc")
    page.click(f"a[href='#/kyc/{verification_id}']")
    page.click("button.show-images")
    page.wait_for_selector(".kyc-images img")
    seen = {
        "name": page.locator("dd[data-field=name]").text_content(),
        "images": page.eval_on_selector_all(".kyc-images img", "imgs => imgs.map((img) => img.getAttribute('src'))"),
        "clean": page.evaluate("window.__pwned === undefined && document.querySelectorAll('img[src=x]').length === 0"),
    }
    console.screenshot("kyc-review")
    page.fill("form.approve input[name=approve_reason]", "免許証と自撮りが一致")
    page.click("form.approve button[type=submit]")
    page.wait_for_selector("dl.facts[data-status=approved]")
    seen["status"] = page.locator("dl.facts dd").first.text_content()
    return seen


async def test_an_admin_approves_a_kyc_case_after_seeing_its_images_and_the_api_shows_it_approved(
    system: System, sms: SmsSink, chromium: Chromium, console: Console
) -> None:
    customer, verification_id = await in_review(system, sms)
    await signed_in(chromium, console, await staff_member(system, "admin.okada", "admin"))
    seen = await chromium.run(_review_kyc, console, verification_id)
    assert seen["name"] == CUSTOMER["name"]  # an admin may see the declared identity with the images
    assert len(seen["images"]) == 4
    assert all(src.startswith("blob:") for src in seen["images"])
    assert seen["status"] == "承認"

    mine = await system.gateway.get(f"/v1/kyc/verifications/{verification_id}", headers=customer)
    assert mine.json()["status"] == "approved"
    token = await chromium.run(console.access_token)
    staff_view = await system.gateway.get(f"/v1/ops/kyc/verifications/{verification_id}", headers=bearer(token))
    assert staff_view.json()["status"] == "approved"
    assert staff_view.json()["decision_reason"] == "免許証と自撮りが一致"


def _analyst_asks_for_images(console: Console, verification_id: str) -> dict[str, Any]:
    page = console.page
    console.go("kyc")
    page.click(f"a[href='#/kyc/{verification_id}']")
    page.click("button.show-images")
    refused = page.locator(".form-status [role=alert]").text_content()
    return {
        "refused": refused,
        "name": page.locator("dd[data-field=name]").text_content(),
        "images": page.locator(".kyc-images img").count(),
    }


async def test_an_analyst_sees_the_declared_identity_masked_and_kyc_refuses_the_images(
    system: System, sms: SmsSink, chromium: Chromium, console: Console
) -> None:
    _, verification_id = await in_review(system, sms)
    await signed_in(chromium, console, await staff_member(system, "analyst.naka", "analyst"))
    seen = await chromium.run(_analyst_asks_for_images, console, verification_id)
    assert seen == {"refused": "Viewing the images needs the supervisor role.", "name": "佐＊＊＊", "images": 0}


# ---- kill switches ------------------------------------------------------------------------------------------------

LOGIN_ROW = "tr[data-operation=login][data-partner='']"


def _flip(console: Console, reason: str, active: bool) -> None:
    page = console.page
    page.fill(f"{LOGIN_ROW} input[name=reason]", reason)
    page.click(f"{LOGIN_ROW} button[type=submit]")
    page.wait_for_selector(f"{LOGIN_ROW}[data-active={'true' if active else 'false'}]")


async def customer_login(system: System) -> Any:
    return await system.gateway.post(
        "/v1/auth/login", json={"login_id": CUSTOMER["email"], "password": CUSTOMER["password"], "device_id": "dev-1"}
    )


async def test_an_admin_stops_an_operation_with_a_kill_switch_and_the_gateway_refuses_it(
    system: System, chromium: Chromium, console: Console
) -> None:
    await open_account(system.gateway)
    assert (await customer_login(system)).status_code != 503
    await signed_in(chromium, console, await staff_member(system, "admin.mori", "admin"))
    await chromium.run(console.go, "switches")
    await chromium.run(_flip, console, "不正ログイン多発のため一時停止", True)
    await chromium.run(console.screenshot, "kill-switch-stopped")

    stopped = await customer_login(system)
    assert (stopped.status_code, stopped.json()["code"]) == (503, "operation_suspended")
    token = await chromium.run(console.access_token)
    listed = await system.gateway.get("/v1/ops/kill-switches", headers=bearer(token))
    (switch,) = [s for s in listed.json()["kill_switches"] if s["operation"] == "login"]
    assert (switch["active"], switch["reason"]) == (True, "不正ログイン多発のため一時停止")

    await chromium.run(_flip, console, "対策完了", False)
    assert (await customer_login(system)).status_code != 503


def _analyst_view(console: Console) -> dict[str, Any]:
    page = console.page
    shown = {
        name: page.is_visible(f"#nav a[data-page={name}]")
        for name in ("trends", "cases", "kyc", "lists", "switches", "audit")
    }
    page.evaluate("location.hash = '#/switches'")
    alert = page.locator("main [role=alert]").text_content()
    forms = page.locator("form.switch").count()
    forced = page.evaluate(
        f"""async () => {{
          const token = JSON.parse(sessionStorage.getItem("{SESSION}")).access_token;
          const answer = await fetch("/v1/ops/kill-switches/login", {{
            method: "PUT",
            headers: {{Authorization: `Bearer ${{token}}`, "Content-Type": "application/json"}},
            body: JSON.stringify({{active: true, reason: "an analyst tries"}}),
          }});
          return {{status: answer.status, body: await answer.json()}};
        }}"""
    )
    console.screenshot("analyst-no-kill-switches")
    return {"shown": shown, "alert": alert, "forms": forms, "forced": forced}


async def test_an_analyst_sees_no_kill_switch_controls_and_a_forced_put_is_refused(
    system: System, chromium: Chromium, console: Console
) -> None:
    await open_account(system.gateway)
    await signed_in(chromium, console, await staff_member(system, "analyst.ueno", "analyst"))
    seen = await chromium.run(_analyst_view, console)
    assert seen["shown"] == {
        "trends": True,
        "cases": True,
        "kyc": True,
        "lists": False,
        "switches": False,
        "audit": False,
    }
    assert seen["forms"] == 0
    assert seen["alert"] == "This route needs the admin role."
    assert (seen["forced"]["status"], seen["forced"]["body"]["code"]) == (403, "forbidden")
    assert (await customer_login(system)).status_code != 503


# ---- languages ----------------------------------------------------------------------------------------------------


def _labels(console: Console) -> dict[str, Any]:
    page = console.page

    def now() -> dict[str, Any]:
        return {
            "lang": page.evaluate("document.documentElement.lang"),
            "nav": page.locator("#nav a[data-page=cases]").text_content(),
            "heading": page.locator("main h2").text_content(),
            "button": page.locator("#lang").text_content(),
        }

    page.wait_for_selector("main h2")
    before = now()
    page.click("#lang")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("svg.trend-chart, main .message.info")
    after = now()
    console.screenshot("english")
    page.click("#lang")
    page.wait_for_function("document.documentElement.lang === 'ja'")
    return {"before": before, "after": after, "back": now()}


async def test_the_language_switch_changes_the_labels_between_japanese_and_english(
    system: System, chromium: Chromium, console: Console
) -> None:
    await signed_in(chromium, console, await staff_member(system, "analyst.ishii", "analyst"))
    labels = await chromium.run(_labels, console)
    assert labels["before"] == {
        "lang": "ja",
        "nav": "不正検知ケース",
        "heading": "アクセス推移（1時間ごと）",
        "button": "English",
    }
    assert labels["after"] == {
        "lang": "en",
        "nav": "Fraud cases",
        "heading": "Access trends (per hour)",
        "button": "日本語",
    }
    assert labels["back"]["nav"] == "不正検知ケース"


# ---- customer data is text ----------------------------------------------------------------------------------------


def _lists_note(console: Console) -> dict[str, Any]:
    page = console.page
    console.go("lists")
    page.select_option("select[name=list]", "ips")
    page.wait_for_selector("td.note")
    seen = {
        "note": page.locator("td.note").first.text_content(),
        "clean": page.evaluate("window.__pwned === undefined && document.querySelectorAll('img[src=x]').length === 0"),
    }
    console.screenshot("xss-as-text")
    return seen


async def test_customer_and_case_values_that_look_like_markup_are_shown_as_text(
    system: System, sms: SmsSink, chromium: Chromium, console: Console
) -> None:
    # A customer whose declared name is markup, in manual review; a case; a list entry whose note is markup.
    await open_account(system.gateway, name=XSS, address=ADDRESS)
    started = await start(system, await signed_in_again(system, sms), ekyc_body())
    assert started.json()["status"] == "manual_review", started.text
    verification_id = started.json()["verification_id"]
    case_id = await mule_phone_case(system)
    await signed_in(chromium, console, await staff_member(system, "admin.kubo", "admin"))
    token = await chromium.run(console.access_token)
    added = await system.gateway.put(
        "/v1/ops/fraud/lists/ips/entries", json={"value": "198.51.100.0/24", "note": XSS}, headers=bearer(token)
    )
    assert added.status_code == 200, added.text

    kyc = await chromium.run(_review_kyc, console, verification_id)
    assert kyc["name"] == XSS
    assert kyc["clean"] is True
    case = await chromium.run(_resolve_case, console, case_id, XSS)
    assert XSS in case["facts"]
    assert case["clean"] is True
    listed = await chromium.run(_lists_note, console)
    assert listed == {"note": XSS, "clean": True}


# ---- the session --------------------------------------------------------------------------------------------------

EMPTY = "該当するものはありません。"


def _open_cases(console: Console) -> str:
    console.go("cases")
    console.page.locator("main .message.info", has_text=EMPTY).wait_for()
    return console.access_token()


def _open_kyc_after_the_session_ended(console: Console) -> dict[str, Any]:
    page = console.page
    console.go("kyc")
    page.wait_for_selector("#login-form")
    return {
        "notice": page.locator("#login-form .message.info").text_content(),
        "stored": page.evaluate(f"sessionStorage.getItem('{SESSION}')"),
        "nav": page.is_visible("#nav"),
    }


async def test_an_expired_access_token_is_refreshed_and_an_ended_session_asks_for_a_new_sign_in(
    system: System, chromium: Chromium, console: Console, relay: GatewayRelay
) -> None:
    await signed_in(chromium, console, await staff_member(system, "analyst.sono", "analyst"))
    first = await chromium.run(console.access_token)
    # Past the access token's 300 s (and the verifier's leeway), well within the shift's idle timeout.
    system.clock.advance(seconds=300 + LEEWAY_SECONDS + 1)
    assert (await system.gateway.get("/v1/ops/fraud/cases", headers=bearer(first))).status_code == 401
    renewed = await chromium.run(_open_cases, console)
    assert renewed != first
    assert ("POST", "/v1/ops/auth/refresh", 200) in relay.relayed
    assert (await system.gateway.get("/v1/ops/fraud/cases", headers=bearer(renewed))).status_code == 200

    system.clock.advance(seconds=1801)  # idle past staff_idle_timeout_seconds: the refresh is refused
    ended = await chromium.run(_open_kyc_after_the_session_ended, console)
    assert ended == {"notice": "セッションが終了しました。もう一度ログインしてください。", "stored": None, "nav": False}
    assert ("POST", "/v1/ops/auth/refresh", 401) in relay.relayed


def _log_out(console: Console) -> dict[str, Any]:
    page = console.page
    page.click("#logout")
    page.wait_for_selector("#login-form")
    return {
        "notices": page.locator("#login-form .message").count(),
        "stored": page.evaluate(f"sessionStorage.getItem('{SESSION}')"),
    }


async def test_logging_out_ends_the_session_at_the_api(system: System, chromium: Chromium, console: Console) -> None:
    await signed_in(chromium, console, await staff_member(system, "analyst.tada", "analyst"))
    token = await chromium.run(console.access_token)
    assert await chromium.run(_log_out, console) == {"notices": 0, "stored": None}
    refused = await system.gateway.get("/v1/ops/fraud/cases", headers=bearer(token))
    assert refused.status_code == 401


# ---- lists and the audit trail ------------------------------------------------------------------------------------


def _add_entry(console: Console) -> dict[str, Any]:
    page = console.page
    console.go("lists")
    page.select_option("select[name=list]", "ips")
    page.locator("main .message.info", has_text=EMPTY).wait_for()
    page.fill("form.add-entry input[name=value]", "203.0.113.0/24")
    page.select_option("form.add-entry select[name=kind]", "deny")
    page.fill("form.add-entry input[name=note]", "フィッシング基盤")
    page.click("form.add-entry button[type=submit]")
    page.wait_for_selector("tr[data-entry] td.note")
    added = page.eval_on_selector_all("tr[data-entry] td", "tds => tds.map((td) => td.textContent)")
    console.screenshot("lists")
    return {"added": added}


def _remove_entry(console: Console) -> None:
    page = console.page
    page.click("tr[data-entry] button.danger")
    page.locator("main .message.info", has_text=EMPTY).wait_for()


def _search_audit(console: Console, action: str) -> list[list[str]]:
    page = console.page
    console.go("audit")
    page.fill("form.filters input[name=action]", action)
    page.click("form.filters button[type=submit]")
    page.wait_for_function(
        "(action) => { const rows = [...document.querySelectorAll('tr[data-entry]')];"
        " return rows.length > 0 && rows.every((r) => r.children[4].textContent === action); }",
        arg=action,
    )
    rows: list[list[str]] = page.eval_on_selector_all(
        "tr[data-entry]", "rows => rows.map((r) => [...r.children].map((td) => td.textContent))"
    )
    console.screenshot("audit")
    return rows


async def test_an_admin_adds_and_removes_a_deny_list_entry_and_finds_it_in_the_audit_trail(
    system: System, chromium: Chromium, console: Console
) -> None:
    await signed_in(chromium, console, await staff_member(system, "admin.sakai", "admin"))
    token = await chromium.run(console.access_token)
    added = (await chromium.run(_add_entry, console))["added"]
    assert added[:3] == ["203.0.113.0/24", "拒否", "フィッシング基盤"]
    listed = await system.gateway.get("/v1/ops/fraud/lists/ips/entries", headers=bearer(token))
    assert [(e["value"], e["kind"], e["note"]) for e in listed.json()["entries"]] == [
        ("203.0.113.0/24", "deny", "フィッシング基盤")
    ]
    await chromium.run(_remove_entry, console)
    assert (await system.gateway.get("/v1/ops/fraud/lists/ips/entries", headers=bearer(token))).json()["entries"] == []

    async def in_the_trail() -> bool:
        found = await system.gateway.get("/v1/ops/audit", params={"action": "fraud_list.add"}, headers=bearer(token))
        return len(found.json()["entries"]) == 1

    await eventually_async(in_the_trail)
    (row,) = await chromium.run(_search_audit, console, "fraud_list.add")
    assert row[1:6] == ["fraud", row[2], "admin", "fraud_list.add", "fraud_list:ips:203.0.113.0/24"]
    assert row[2].startswith("stf_")
    assert "フィッシング基盤" in row[7]


def _inject(console: Console) -> dict[str, Any]:
    """What a bug that wrote a string into markup, or added an inline script, would get on these pages."""
    return dict(
        console.page.evaluate(
            """() => {
              const outcome = {};
              const markup = '<img src=x onerror="window.__pwned=2">';
              try { document.querySelector("main").innerHTML = markup; outcome.markup = "written"; }
              catch (error) { outcome.markup = error.name; }
              const script = document.createElement("script");
              try { script.textContent = "window.__pwned = 3"; document.body.append(script); outcome.script = "added"; }
              catch (error) { outcome.script = error.name; }
              outcome.pwned = window.__pwned === undefined;
              return outcome;
            }"""
        )
    )


async def test_the_pages_policy_refuses_markup_from_strings_and_inline_scripts(
    system: System, chromium: Chromium, console: Console
) -> None:
    await signed_in(chromium, console, await staff_member(system, "analyst.hoshi", "analyst"))
    console.expect("Trusted")  # the browser reports what it blocked: provoked here, not faults of the console
    injected = await chromium.run(_inject, console)
    assert injected == {"markup": "TypeError", "script": "TypeError", "pwned": True}
    assert console.provoked
