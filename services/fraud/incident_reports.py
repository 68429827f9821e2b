"""Report drafts of an incident (INC-2, JFSA 3(1) ②): to the supervisor and the association (事故等報告), to the
Personal Information Protection Commission (漏えい等報告) and to the police (被害申告・相談), in Japanese.

Every line is filled from what staff recorded: the incident, its timeline, its customers, the notices sent, its
recurrence prevention, and the amounts of the affected customers' money events in fraud's own store. Nothing is
guessed: an item the records do not cover says 未記録, so staff see what they still have to fill in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fraud import incidents, models, recurrence

ReportKind = Literal["supervisor", "personal_data_leak", "police"]
UNRECORDED = "未記録"
TEMPLATES = Path(__file__).parent / "report_templates"
JST = timezone(timedelta(hours=9), "JST")
NOTICE_NAMES = {
    "incident_caution": "注意喚起",
    "incident_password_reset": "パスワード再設定のお願い",
    "incident_apology": "お詫びとお知らせ",
}
STATUS_NAMES = {"open": "対応中", "contained": "封じ込め済み", "resolved": "解決済み", "closed": "完了"}


def jst(moment: datetime | None) -> str:
    return UNRECORDED if moment is None else moment.astimezone(JST).strftime("%Y年%m月%d日 %H時%M分（日本時間）")


def yen(amount: int) -> str:
    return f"{amount:,} 円"


@dataclass
class Section:
    heading: str
    lines: list[str] = field(default_factory=list)  # empty: 未記録

    @property
    def recorded(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True)
class Facts:
    incident: incidents.Incident
    timeline: list[incidents.Entry]
    customers: dict[str, int]  # by status: pending | contained | failed
    notices: dict[str, int]  # by template: customers told
    money: tuple[int, int] | None  # (events, yen) of the affected customers since the incident occurred
    prevention: recurrence.Prevention | None

    @property
    def affected(self) -> int:
        return sum(self.customers.values())

    def entries(self, *kinds: str) -> list[incidents.Entry]:
        return [entry for entry in self.timeline if entry.kind in kinds]

    def containment_scopes(self) -> list[dict[str, Any]]:
        return [e.data["containment"] for e in self.entries("action") if isinstance(e.data.get("containment"), dict)]


@dataclass(frozen=True)
class Report:
    kind: str
    title: str
    addressee: str
    facts: Facts
    sections: list[Section]
    made_at: datetime

    @property
    def timeline_lines(self) -> list[str]:
        return [f"{jst(e.at)} [{e.kind}] {e.text}（記録: {e.recorded_by}）" for e in self.facts.timeline]


async def gather(session: AsyncSession, incident_id: str) -> Facts:
    incident = await incidents.get_incident(session, incident_id)
    c, n, e = models.incident_customer, models.incident_notice, models.event
    customers = await session.execute(
        select(c.c.status, func.count()).where(c.c.incident_id == incident_id).group_by(c.c.status)
    )
    notices = await session.execute(
        select(n.c.template, func.count()).where(n.c.incident_id == incident_id).group_by(n.c.template)
    )
    money: tuple[int, int] | None = None
    if incident.occurred_at is not None:
        affected = select(c.c.customer_id).where(c.c.incident_id == incident_id)
        found = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(e.c.amount), 0)).where(
                    e.c.customer_id.in_(affected), e.c.amount.is_not(None), e.c.occurred_at >= incident.occurred_at
                )
            )
        ).one()
        money = (int(found[0]), int(found[1])) if found[0] else None
    return Facts(
        incident=incident,
        timeline=await incidents.timeline(session, incident_id),
        customers={str(status): int(count) for status, count in customers.all()},
        notices={str(template): int(count) for template, count in notices.all()},
        money=money,
        prevention=await recurrence.current(session, incident_id),
    )


def _overview(facts: Facts, heading: str) -> Section:
    i = facts.incident
    kind = incidents.KIND_NAMES_JA.get(i.kind, i.kind)
    return Section(heading, [f"件名: {i.title}", f"分類: {kind}", f"インシデント番号: {i.id}", i.summary])


def _damage(facts: Facts, heading: str) -> Section:
    lines = []
    if facts.affected:
        contained, failed = facts.customers.get("contained", 0), facts.customers.get("failed", 0)
        lines.append(
            f"影響を受けた顧客: {facts.affected} 名（うちロック等の措置済み {contained} 名、未完了 {failed} 名）"
        )
    lines += _amount(facts)
    return Section(heading, lines)


def _amount(facts: Facts) -> list[str]:
    if facts.money is None:
        return []
    events, total = facts.money
    return [
        f"影響顧客の発生日時以降の金銭取引: {events} 件、合計 {yen(total)}（当社の取引記録より。被害額か否かは要確認）"
    ]


def _cause(facts: Facts, heading: str) -> Section:
    return Section(heading, [facts.prevention.root_cause] if facts.prevention else [])


def _response(facts: Facts, heading: str) -> Section:
    lines = [f"現在の状態: {STATUS_NAMES.get(facts.incident.status, facts.incident.status)}"]
    lines += [f"{jst(e.at)} {e.text}" for e in facts.entries("action", "decision", "notice")]
    lines += _notices(facts)
    return Section(heading, lines)


def _notices(facts: Facts) -> list[str]:
    return [
        f"お客さまへの通知「{NOTICE_NAMES.get(template, template)}」: {count} 名に送信"
        for template, count in sorted(facts.notices.items())
    ]


def _prevention(facts: Facts, heading: str) -> Section:
    p = facts.prevention
    if p is None:
        return Section(heading)
    return Section(
        heading,
        [
            f"リスクの再評価（提携先を含む）: {p.risk_reassessment}",
            f"お客さまへの注意喚起: {p.customer_cautions}",
            f"社内研修: {p.training_material}",
            f"（第{p.version}版、{p.created_by}、{jst(p.created_at)}）",
        ],
    )


def _supervisor(facts: Facts) -> list[Section]:
    i = facts.incident
    return [
        _overview(facts, "1. 事案の概要"),
        Section("2. 発生日時", [jst(i.occurred_at)] if i.occurred_at else []),
        Section("3. 発覚日時", [jst(i.detected_at)]),
        _damage(facts, "4. 被害の状況（件数・金額）"),
        _cause(facts, "5. 原因"),
        _response(facts, "6. 対応状況"),
        _prevention(facts, "7. 再発防止策"),
    ]


def _personal_data_leak(facts: Facts) -> list[Section]:
    people = [f"{facts.affected} 名（当社が影響を記録した顧客の数）"] if facts.affected else []
    told = [f"{jst(e.at)} {e.text}" for e in facts.entries("action")] + _notices(facts)
    published = [f"{jst(e.at)} {e.text}" for e in facts.entries("notice")]
    return [
        _overview(facts, "1. 概要"),
        Section("2. 漏えい等が発生し、又は発生したおそれがある個人データの項目"),
        Section("3. 漏えい等が発生し、又は発生したおそれがある個人データに係る本人の数", people),
        _cause(facts, "4. 原因"),
        Section("5. 二次被害又はそのおそれの有無及びその内容"),
        Section("6. 本人への対応の実施状況", told),
        Section("7. 公表の実施状況", published),
        _prevention(facts, "8. 再発防止のための措置"),
    ]


def _police(facts: Facts) -> list[Section]:
    i = facts.incident
    when = (
        [f"発生: {jst(i.occurred_at)}", f"発覚: {jst(i.detected_at)}"]
        if i.occurred_at
        else [f"発覚: {jst(i.detected_at)}"]
    )
    method = [f"分類: {incidents.KIND_NAMES_JA.get(i.kind, i.kind)}"]
    if facts.prevention is not None:
        method.append(facts.prevention.root_cause)
    related = []
    for scope in facts.containment_scopes():
        if scope.get("ip"):
            related.append(f"IPアドレス: {scope['ip']}")
        if scope.get("device"):
            related.append(f"端末: {scope['device']}")
    return [
        _overview(facts, "1. 被害の概要"),
        Section("2. 日時", when),
        Section("3. 手口", method),
        Section("4. 関係するIPアドレス・端末", sorted(set(related))),
        Section("5. 被害額", _amount(facts)),
    ]


KINDS: dict[str, tuple[str, str, Any]] = {
    "supervisor": ("事故等報告書（案）", "金融庁 ／ 所属協会 御中", _supervisor),
    "personal_data_leak": ("個人データの漏えい等報告書（案）", "個人情報保護委員会 御中", _personal_data_leak),
    "police": ("被害申告・相談資料（案）", "警察署 御中", _police),
}


def draft(kind: str, facts: Facts, now: datetime) -> Report:
    title, addressee, sections = KINDS[kind]
    return Report(kind=kind, title=title, addressee=addressee, facts=facts, sections=sections(facts), made_at=now)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html", "html.j2"], default=True),
    )
    env.globals.update(jst=jst, UNRECORDED=UNRECORDED)
    return env


def render_html(report: Report) -> str:
    return _environment().get_template("report.html.j2").render(report=report)


def render_training_material(incident: incidents.Incident, prevention: recurrence.Prevention) -> str:
    kind_name = incidents.KIND_NAMES_JA.get(incident.kind, incident.kind)
    template = _environment().get_template("training_material.html.j2")
    return template.render(incident=incident, prevention=prevention, kind_name=kind_name)
