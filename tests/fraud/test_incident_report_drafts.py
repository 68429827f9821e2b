"""The report drafts' rule, with no database: what the records do not say is 未記録, never a guess."""

from __future__ import annotations

from datetime import UTC, datetime

from services.fraud import incident_reports, incidents
from services.fraud.incident_reports import UNRECORDED, Facts

AT = datetime(2026, 11, 30, 1, 2, tzinfo=UTC)
INCIDENT = incidents.Incident(
    id="inc_01jd7x0000000000000000000a",
    title="不正ログイン",
    kind="account_takeover",
    summary="乗っ取りの疑い",
    status="open",
    detected_at=AT,
    occurred_at=None,
    created_by="stf_1",
    created_at=AT,
    updated_at=AT,
)


def _unrecorded(report: incident_reports.Report) -> list[str]:
    return [section.heading for section in report.sections if not section.recorded]


def test_a_bare_incident_leaves_every_item_it_cannot_fill_unrecorded() -> None:
    facts = Facts(incident=INCIDENT, timeline=[], customers={}, notices={}, money=None, prevention=None)
    supervisor = incident_reports.draft("supervisor", facts, AT)
    assert _unrecorded(supervisor) == ["2. 発生日時", "4. 被害の状況（件数・金額）", "5. 原因", "7. 再発防止策"]
    leak = incident_reports.draft("personal_data_leak", facts, AT)
    assert len(_unrecorded(leak)) == 7  # all but the overview
    police = incident_reports.draft("police", facts, AT)
    assert _unrecorded(police) == ["4. 関係するIPアドレス・端末", "5. 被害額"]
    html = incident_reports.render_html(supervisor)
    assert html.count(f'<p class="unrecorded">{UNRECORDED}</p>') == 4
    assert "2026年11月30日 10時02分（日本時間）" in html  # detected, in Japan's time
    assert "アカウント乗っ取り" in html


def test_amounts_and_counts_come_only_from_the_records() -> None:
    facts = Facts(
        incident=INCIDENT,
        timeline=[],
        customers={"contained": 3, "failed": 1},
        notices={"incident_caution": 3},
        money=(2, 1_234_567),
        prevention=None,
    )
    lines = "\n".join(line for s in incident_reports.draft("supervisor", facts, AT).sections for line in s.lines)
    assert "影響を受けた顧客: 4 名（うちロック等の措置済み 3 名、未完了 1 名）" in lines
    assert "2 件、合計 1,234,567 円" in lines
    assert "お客さまへの通知「注意喚起」: 3 名に送信" in lines
