"""The fraud desk in the ops console, in headless Chromium, with what the API says checked afterwards over HTTP: a case
resolved, a KYC case approved with its images (refused to an analyst), a kill switch flipped by an admin and out of
an analyst's reach, a deny-list entry added and removed and found in the audit search, and customer data that looks
like markup shown as text. Screenshots go to test-artifacts/ops-console/.
"""

from __future__ import annotations

from typing import Any

from sekisho.sinks import SmsSink
from tests.auth.conftest import CUSTOMER, open_account
from tests.browser.chromium import Chromium
from tests.fraud.test_cases import mule_phone_case
from tests.harness import System
from tests.kyc.conftest import ADDRESS, ekyc_body, signed_in_again, start
from tests.kyc.test_ops_review import in_review
from tests.ops_console.console_tab import EMPTY, SESSION, Console, bearer, signed_in, staff_member
from tests.servers import eventually_async

XSS = '<img src=x onerror="window.__pwned=1">'


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
