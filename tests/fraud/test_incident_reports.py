"""Report drafts (INC-2) and recurrence prevention (INC-8) of an incident, through the gateway."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader

from services.fraud.incident_reports import jst
from tests.auth.conftest import open_account
from tests.fraud.incident_helpers import INCIDENT, desk, open_incident
from tests.fraud.test_incidents import incident_trail
from tests.fraud.test_ops_api import put_events
from tests.harness import System

PREVENTION = {
    "root_cause": "他社から流出したID・パスワードの組合せによるリスト型攻撃。ログイン試行の上限がIP帯単位でなかった。",
    "risk_reassessment": "ログイン経路の再評価。提携ATM網・連携銀行を含め、同一IP帯からの試行を再点検した。",
    "customer_cautions": "他サービスとのパスワード使い回しをしないよう、アプリとメールで注意喚起する。",
    "training_material": "リスト型攻撃の兆候（多数の顧客・同一IP帯）と一括封じ込めの手順を全担当者に研修する。",
}


def _pdf_text(content: bytes) -> str:
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return re.sub(r"\s+", "", text)  # lines wrap anywhere in Japanese


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.req("INC-2")
async def test_report_drafts_hold_the_recorded_facts_in_html_and_pdf(system: System) -> None:
    supervisor, analyst, admin = await desk(system)
    a = await open_account(system.gateway)
    b = await open_account(system.gateway, email="b.suzuki@example.jp", phone="090-1111-0002")
    occurred = system.clock.now() - timedelta(hours=5)
    incident = await open_incident(system, supervisor, occurred_at=occurred.isoformat(), title="不正ログイン <第1報>")
    path = f"/v1/ops/incidents/{incident['id']}"
    after = occurred + timedelta(minutes=30)
    await put_events(
        system,
        {"type": "login_succeeded", "occurred_at": after, "customer_id": a, "ip": "203.0.113.7"},
        {"type": "login_succeeded", "occurred_at": after, "customer_id": b, "ip": "203.0.113.8"},
        {"type": "withdrawal_requested", "occurred_at": after, "customer_id": a, "data": {"amount": 30000}},
        {"type": "withdrawal_requested", "occurred_at": after, "customer_id": b, "data": {"amount": 20000}},
        # Before the incident occurred: not counted.
        {
            "type": "withdrawal_requested",
            "occurred_at": occurred - timedelta(days=1),
            "customer_id": a,
            "data": {"amount": 7},
        },
    )
    contained = await system.gateway.post(f"{path}/containment", json={"ip": "203.0.113.0/24"}, headers=supervisor)
    assert contained.json()["contained"] == 2
    for kind, text in (("fact", "攻撃元は 203.0.113.0/24 の1系統"), ("notice", "当社ウェブサイトにお知らせを掲載")):
        added = await system.gateway.post(f"{path}/timeline", json={"kind": kind, "text": text}, headers=analyst)
        assert added.status_code == 201

    # Before the recurrence prevention: the cause and the measures are blanks for staff to fill.
    early = await system.gateway.get(f"{path}/reports/supervisor", headers=supervisor)
    assert early.status_code == 200, early.text
    assert re.search(r"5\. 原因</h2>\s*<p class=\"unrecorded\">未記録</p>", early.text)

    recorded = await system.gateway.put(f"{path}/recurrence-prevention", json=PREVENTION, headers=supervisor)
    assert recorded.status_code == 200, recorded.text

    facts = [
        incident["id"],
        "不正ログイン",
        INCIDENT["summary"],
        jst(occurred),
        jst(system.clock.now() - timedelta(hours=2)),  # detected (incident_helpers)
        "影響を受けた顧客:2名",
        "合計50,000円",
        PREVENTION["root_cause"],
        PREVENTION["customer_cautions"],
        "攻撃元は203.0.113.0/24の1系統",
    ]
    html = await system.gateway.get(f"{path}/reports/supervisor", params={"format": "html"}, headers=supervisor)
    assert html.headers["content-type"].startswith("text/html")
    assert "不正ログイン &lt;第1報&gt;" in html.text  # escaped, never markup
    pdf = await system.gateway.get(f"{path}/reports/supervisor", params={"format": "pdf"}, headers=supervisor)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    pdf_text = _pdf_text(pdf.content)
    for fact in facts:
        assert _flat(fact) in _flat(html.text), fact
        assert _flat(fact) in pdf_text, fact
    assert "事故等報告書" in pdf_text
    assert 'class="unrecorded"' not in html.text  # every supervisor item is covered now

    leak = await system.gateway.get(f"{path}/reports/personal_data_leak", params={"format": "pdf"}, headers=supervisor)
    leak_text = _pdf_text(leak.content)
    assert "個人情報保護委員会" in leak_text
    assert "2名（当社が影響を記録した顧客の数）" in leak_text
    assert "当社ウェブサイトにお知らせを掲載" in leak_text  # 公表, from the notice entry
    # The data items and secondary damage are not recorded anywhere: blanks, not guesses.
    assert leak_text.count("未記録") == 2

    police = await system.gateway.get(f"{path}/reports/police", headers=supervisor)
    assert "IPアドレス: 203.0.113.0/24" in police.text
    assert "合計 50,000 円" in police.text
    assert "分類: 不正アクセス" in police.text

    assert (await system.gateway.get(f"{path}/reports/supervisor", headers=analyst)).status_code == 403
    wrong_kind = await system.gateway.get(f"{path}/reports/newspaper", headers=supervisor)
    assert wrong_kind.status_code == 422
    wrong_format = await system.gateway.get(f"{path}/reports/police", params={"format": "docx"}, headers=supervisor)
    assert wrong_format.status_code == 422
    unknown = await system.gateway.get(
        "/v1/ops/incidents/inc_00000000000000000000000000/reports/police", headers=supervisor
    )
    assert unknown.status_code == 404
    counts = await incident_trail(system, admin, {"incident.report": 5})
    assert counts["incident.report"] == 5  # every download, html and pdf


@pytest.mark.req("INC-8")
async def test_recurrence_prevention_is_kept_per_version_and_an_incident_closes_only_with_it(system: System) -> None:
    supervisor, analyst, admin = await desk(system)
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"

    resolved = await system.gateway.post(
        f"{path}/status", json={"status": "resolved", "reason": "被害拡大なし"}, headers=supervisor
    )
    assert resolved.status_code == 200
    early_close = await system.gateway.post(
        f"{path}/status", json={"status": "closed", "reason": "完了"}, headers=supervisor
    )
    assert early_close.status_code == 409
    assert early_close.json()["code"] == "recurrence_prevention_missing"
    no_material = await system.gateway.get(f"{path}/training-material", headers=analyst)
    assert no_material.status_code == 404
    assert no_material.json()["code"] == "recurrence_prevention_missing"

    assert (
        await system.gateway.put(f"{path}/recurrence-prevention", json=PREVENTION, headers=analyst)
    ).status_code == 403
    for missing in PREVENTION:
        partial = {**PREVENTION, missing: "  "}
        refused = await system.gateway.put(f"{path}/recurrence-prevention", json=partial, headers=supervisor)
        assert refused.status_code == 422, missing
        assert refused.json()["code"] == "validation_failed"
    first = await system.gateway.put(f"{path}/recurrence-prevention", json=PREVENTION, headers=supervisor)
    assert first.status_code == 200, first.text
    second_body = {**PREVENTION, "training_material": "第2版: 封じ込め手順に <b>IP帯</b> の指定方法を追加。"}
    second = await system.gateway.put(f"{path}/recurrence-prevention", json=second_body, headers=supervisor)
    history = (await system.gateway.get(f"{path}/recurrence-prevention", headers=analyst)).json()
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert history["versions"][0]["training_material"] == PREVENTION["training_material"]
    assert history["current"] == second.json()["current"]
    assert history["current"]["created_by"]
    assert history["current"]["created_at"]

    material = await system.gateway.get(f"{path}/training-material", params={"format": "html"}, headers=analyst)
    assert material.status_code == 200
    assert material.headers["content-type"].startswith("text/html")
    assert "第2版: 封じ込め手順に &lt;b&gt;IP帯&lt;/b&gt; の指定方法を追加。" in material.text
    assert PREVENTION["risk_reassessment"] in material.text
    assert "提携先を含む" in material.text
    report = await system.gateway.get(f"{path}/reports/supervisor", headers=supervisor)
    assert PREVENTION["root_cause"] in report.text
    assert "第2版" in report.text

    closed = await system.gateway.post(
        f"{path}/status", json={"status": "closed", "reason": "再発防止策を確定"}, headers=supervisor
    )
    assert closed.status_code == 200, closed.text
    after = await system.gateway.put(f"{path}/recurrence-prevention", json=PREVENTION, headers=supervisor)
    assert after.status_code == 409
    assert after.json()["code"] == "incident_closed"
    entries = (await system.gateway.get(path, headers=analyst)).json()["timeline"]
    assert [e["text"] for e in entries if e["kind"] == "decision"] == [
        "再発防止策を記録（第1版）",
        "再発防止策を記録（第2版）",
    ]
    counts = await incident_trail(system, admin, {"incident.recurrence": 2, "incident.training_material": 1})
    assert counts["incident.recurrence"] == 2
