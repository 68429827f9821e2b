"""An incident report draft as PDF (INC-2), with reportlab's built-in Japanese CID font: nothing to ship or fetch,
and any PDF reader has the font's glyphs."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from services.fraud.incident_reports import UNRECORDED, Report, jst

FONT = "HeiseiKakuGo-W5"


def _styles() -> dict[str, ParagraphStyle]:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    # wordWrap CJK: Japanese lines break between any two characters, not only at spaces.
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=15, wordWrap="CJK")
    return {
        "body": body,
        "title": ParagraphStyle("title", parent=body, fontSize=16, leading=22, spaceAfter=6),
        "heading": ParagraphStyle("heading", parent=body, fontSize=12, leading=18, spaceBefore=8),
        "unrecorded": ParagraphStyle("unrecorded", parent=body, textColor="#bb0000"),
    }


def render_pdf(report: Report) -> bytes:
    styles = _styles()
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"{report.title} {report.facts.incident.id}",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
    )
    story: list[object] = [
        Paragraph(escape(report.addressee), styles["body"]),
        Paragraph(escape(report.title), styles["title"]),
        Paragraph(escape(f"作成日時: {jst(report.made_at)}（記録された事実から作成した下書き）"), styles["body"]),
    ]
    for section in report.sections:
        story.append(Paragraph(escape(section.heading), styles["heading"]))
        if section.recorded:
            story += [Paragraph(escape(line).replace("\n", "<br/>"), styles["body"]) for line in section.lines]
        else:
            story.append(Paragraph(UNRECORDED, styles["unrecorded"]))
    story += [Spacer(1, 4 * mm), Paragraph("経過（タイムライン）", styles["heading"])]
    story += [Paragraph(escape(line), styles["body"]) for line in report.timeline_lines]
    document.build(story)
    return out.getvalue()
