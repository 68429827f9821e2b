"""Incident response and the work on a case in the ops console, in headless Chromium, checked afterwards over HTTP: a
supervisor opens an incident, adds a fact that shows in the timeline, moves it on with a reason and downloads its
report drafts (fetched with the token, saved from a blob); an analyst sees the incident without what only a
supervisor may do; an analyst takes a case and comments on it; the trend chart shows and filters by channel.
Screenshots go to test-artifacts/ops-console/.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.auth.test_staff import staff_token
from tests.browser.chromium import Chromium
from tests.fraud.test_cases import mule_phone_case
from tests.fraud.test_ops_api import put_events
from tests.harness import System
from tests.ops_console.console_tab import ARTIFACTS, SESSION, Console, bearer, signed_in, staff_member

FACT = "10:05 不審なログインの急増を確認（同一IP帯から300件）"


# ---- incidents ----------------------------------------------------------------------------------------------------


def _open_incident_and_add_a_fact(console: Console) -> dict[str, Any]:
    page = console.page
    console.go("incidents")
    page.wait_for_selector("form.open-incident")
    page.fill("form.open-incident input[name=title]", "提携ATM網経由の不正出金")
    page.select_option("form.open-incident select[name=kind]", "unauthorized_access")
    page.fill("form.open-incident textarea[name=summary]", "複数顧客の口座から短時間に出金")
    page.fill("form.open-incident input[name=detected_at]", "2026-11-30T09:30")
    page.click("form.open-incident button[type=submit]")
    page.wait_for_selector("form.add-entry")
    incident_id = page.evaluate("decodeURIComponent(location.hash.split('/')[2])")
    before = page.locator("ol.timeline li").count()
    page.select_option("form.add-entry select[name=kind]", "fact")
    page.fill("form.add-entry textarea[name=text]", FACT)
    page.click("form.add-entry button[type=submit]")
    page.wait_for_selector(f"ol.timeline li[data-kind=fact] >> text={FACT}")
    page.select_option("form.incident-status select[name=status]", "contained")
    page.fill("form.incident-status textarea[name=reason]", "該当IP帯を拒否リストに登録")
    page.click("form.incident-status button[type=submit]")
    page.wait_for_selector("dl.facts[data-status=contained]")
    console.screenshot("incident")
    return {
        "id": incident_id,
        "before": before,
        "entries": page.eval_on_selector_all(
            "ol.timeline li", "lis => lis.map((li) => [li.dataset.kind, li.querySelector('.text').textContent])"
        ),
        "status": page.locator("dl.facts dd").nth(1).text_content(),
    }


def _download(console: Console, report: str, fmt: str) -> dict[str, Any]:
    page = console.page
    with page.expect_download() as started:
        page.click(f"button.download[data-report={report}][data-format={fmt}]")
    saved = started.value
    path = ARTIFACTS / f"report-{report}.{fmt}"
    saved.save_as(path)
    return {"name": saved.suggested_filename, "bytes": path.read_bytes()}


async def test_a_supervisor_opens_an_incident_adds_a_fact_to_its_timeline_and_downloads_the_report_drafts(
    system: System, chromium: Chromium, console: Console
) -> None:
    await signed_in(chromium, console, await staff_member(system, "supervisor.ishii", "supervisor"))
    seen = await chromium.run(_open_incident_and_add_a_fact, console)
    assert ["fact", FACT] in seen["entries"]
    assert len(seen["entries"]) >= seen["before"] + 2  # the fact, then the status change with its reason
    assert seen["status"] == "封じ込め済み"

    token = await chromium.run(console.access_token)
    incident = await system.gateway.get(f"/v1/ops/incidents/{seen['id']}", headers=bearer(token))
    assert incident.status_code == 200, incident.text
    assert incident.json()["status"] == "contained"
    assert incident.json()["title"] == "提携ATM網経由の不正出金"
    recorded = [(e["kind"], e["text"]) for e in incident.json()["timeline"]]
    assert ("fact", FACT) in recorded
    assert any("該当IP帯を拒否リストに登録" in text for _, text in recorded)

    html = await chromium.run(_download, console, "supervisor", "html")
    assert html["name"] == f"{seen['id']}-supervisor.html"
    assert "提携ATM網経由の不正出金" in html["bytes"].decode()
    assert FACT in html["bytes"].decode()
    pdf = await chromium.run(_download, console, "police", "pdf")
    assert pdf["name"] == f"{seen['id']}-police.pdf"
    assert pdf["bytes"].startswith(b"%PDF")
    api_pdf = await system.gateway.get(
        f"/v1/ops/incidents/{seen['id']}/reports/police", params={"format": "pdf"}, headers=bearer(token)
    )
    assert api_pdf.headers["content-type"] == "application/pdf"


def _analysts_view_of(console: Console, incident_id: str) -> dict[str, Any]:
    page = console.page
    console.go("incidents")
    page.click(f"a[href='#/incidents/{incident_id}']")
    page.wait_for_selector("form.add-entry")
    seen: dict[str, Any] = {
        "open_form": page.locator("form.open-incident").count(),
        "status_form": page.locator("form.incident-status").count(),
        "reports": page.locator("button.download").count(),
    }
    page.click("#lang")  # the same page in English
    page.wait_for_selector("form.add-entry h3 >> text=Add to the timeline")
    seen["english"] = page.eval_on_selector_all("main h3", "hs => hs.map((h) => h.textContent)")
    console.screenshot("incident-analyst-en")
    return seen


async def test_an_analyst_is_not_offered_what_only_a_supervisor_may_do_on_an_incident(
    system: System, chromium: Chromium, console: Console
) -> None:
    supervisor = await staff_member(system, "supervisor.abe", "supervisor")
    opened = await system.gateway.post(
        "/v1/ops/incidents",
        json={"title": "t", "kind": "other", "summary": "s", "detected_at": system.clock.now().isoformat()},
        headers=bearer(await staff_token(system, supervisor)),
    )
    assert opened.status_code == 201, opened.text
    await signed_in(chromium, console, await staff_member(system, "analyst.endo", "analyst"))
    seen = await chromium.run(_analysts_view_of, console, opened.json()["id"])
    assert (seen["open_form"], seen["status_form"], seen["reports"]) == (0, 0, 0)
    assert seen["english"] == ["Timeline", "Add to the timeline"]
    # And the API refuses what the page did not offer.
    token = await chromium.run(console.access_token)
    refused = await system.gateway.get(f"/v1/ops/incidents/{opened.json()['id']}/reports/police", headers=bearer(token))
    assert refused.status_code == 403


# ---- a case -------------------------------------------------------------------------------------------------------


def _take_and_comment(console: Console, case_id: str, comment: str) -> dict[str, Any]:
    page = console.page
    me = page.evaluate(f"JSON.parse(sessionStorage.getItem('{SESSION}')).staff_id")
    console.go("cases")
    page.click(f"a[href='#/cases/{case_id}']")
    page.wait_for_selector("button.take")
    given_form = page.locator("form.give").count()
    page.click("button.take")
    page.wait_for_selector(f"dl.facts[data-assignee='{me}']")
    page.fill("form.case-comment textarea[name=comment]", comment)
    page.click("form.case-comment button[type=submit]")
    page.wait_for_selector(f"ol.comments li >> text={comment}")
    page.select_option("form.case-status select[name=status]", "in_review")
    page.click("form.case-status button[type=submit]")
    page.wait_for_selector("dl.facts[data-status=in_review]")
    console.screenshot("case-worked")
    return {"me": me, "give_form": given_form, "take_left": page.locator("button.take").count()}


async def test_an_analyst_takes_a_case_comments_and_moves_it_to_review(
    system: System, chromium: Chromium, console: Console
) -> None:
    case_id = await mule_phone_case(system)
    await signed_in(chromium, console, await staff_member(system, "analyst.sato", "analyst"))
    comment = "端末所有者に確認の電話 <b>予定</b>"
    seen = await chromium.run(_take_and_comment, console, case_id, comment)
    assert seen["give_form"] == 0  # giving a case to someone else is a supervisor's
    assert seen["take_left"] == 0  # it is the analyst's now

    token = await chromium.run(console.access_token)
    case = await system.gateway.get(f"/v1/ops/fraud/cases/{case_id}", headers=bearer(token))
    assert (case.json()["assignee"], case.json()["status"]) == (seen["me"], "in_review")
    assert [(c["by"], c["text"]) for c in case.json()["comments"]] == [(seen["me"], comment)]


# ---- the chart's channels -----------------------------------------------------------------------------------------


def _by_channel(console: Console, channel: str) -> dict[str, Any]:
    page = console.page
    console.go("trends")
    page.wait_for_selector("svg.trend-chart circle.point")
    everything = page.eval_on_selector_all("svg.trend-chart circle.point", "cs => cs.map((c) => c.dataset.channel)")
    legend = page.eval_on_selector_all("ul.legend li", "lis => lis.map((li) => li.textContent.trim())")
    page.select_option("select[name=channel]", channel)
    page.wait_for_function(
        "(ch) => { const ps = [...document.querySelectorAll('svg.trend-chart circle.point')];"
        " return ps.length > 0 && ps.every((c) => c.dataset.channel === ch); }",
        arg=channel,
    )
    console.screenshot("trends-by-channel")
    return {
        "all": sorted(set(everything)),
        "legend": legend,
        "filtered": page.eval_on_selector_all(
            "svg.trend-chart circle.point", "cs => cs.map((c) => [c.dataset.type, c.dataset.channel, c.dataset.count])"
        ),
    }


async def test_the_trend_chart_shows_each_channel_and_filters_by_one(
    system: System, chromium: Chromium, console: Console
) -> None:
    base = (system.clock.now() - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    failed = {"type": "login_failed", "outcome": "wrong_password"}
    await put_events(
        system,
        {**failed, "channel": "web", "occurred_at": base + timedelta(minutes=5)},
        {**failed, "channel": "web", "occurred_at": base + timedelta(minutes=9)},
        {**failed, "channel": "app", "occurred_at": base + timedelta(minutes=7)},
        {"type": "withdrawal_declined", "outcome": "code_invalid", "channel": "atm", "occurred_at": base},
    )
    await signed_in(chromium, console, await staff_member(system, "analyst.kudo", "analyst"))
    seen = await chromium.run(_by_channel, console, "web")
    assert {"app", "web", "atm"} <= set(seen["all"])
    assert "login_failed / wrong_password / ウェブ: 2" in seen["legend"]
    assert "withdrawal_declined / code_invalid / ATM（提携先）: 1" in seen["legend"]
    assert seen["filtered"] == [["login_failed", "web", "2"]]
