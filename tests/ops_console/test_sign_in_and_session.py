"""The ops console in headless Chromium: staff sign in with password and TOTP at /ops/ and see the access trends drawn
from the API's counts; the session is refreshed, ended and logged out as the API says; the language switch; and the
browser itself refusing markup from strings on these pages. Screenshots go to test-artifacts/ops-console/.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.tokens import LEEWAY_SECONDS
from tests.browser.chromium import Chromium
from tests.browser.gateway_relay import GatewayRelay
from tests.fraud.test_ops_api import put_events
from tests.harness import System
from tests.ops_console.console_tab import EMPTY, SESSION, Console, bearer, signed_in, staff_member

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
    assert "login_failed / wrong_password / 不明: 3" in chart["legend"]  # put in without a channel: unknown
    # One event type: the API is asked for that type only, and the chart shows only it.
    assert set(await chromium.run(_only_type, console, "login_failed")) == {"login_failed"}
    assert any("type=login_failed" in path for _, path, _ in relay.relayed)


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


# ---- the session --------------------------------------------------------------------------------------------------


def _open_cases(console: Console) -> str:
    console.go("cases")
    # The cases page itself first: the trends page it replaces may show the same "nothing to show" (an empty chart).
    console.page.wait_for_selector("main input[name=mine]")
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
