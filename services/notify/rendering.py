"""Renders a notification from its Jinja2 template in the customer's language (Japanese by default).

Each template `templates/<event>.<lang>.j2` defines blocks: `subject` and `body` (email), `sms` (short
text), and for letters `letter`. Templates receive the event's validated data, never raw input, and
personal data only through the masking filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from shared import masking
from shared.contracts.notifications import EventType

Language = Literal["ja", "en"]
LANGUAGES: tuple[Language, ...] = ("ja", "en")
TEMPLATES = Path(__file__).parent / "templates"
JST = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str
    letter: str


@dataclass(frozen=True)
class Sender:
    """Who the customer is told to contact: the operator's own name and desk (settings)."""

    company: str
    support_phone: str
    support_hours: str


def yen(amount: int, language: Language = "ja") -> str:
    return f"{amount:,}円" if language == "ja" else f"¥{amount:,}"


def jst(moment: datetime, language: Language = "ja") -> str:
    local = moment.astimezone(JST)
    if language == "ja":
        return local.strftime("%Y年%m月%d日 %H:%M（日本時間）")
    return local.strftime("%d %b %Y %H:%M (JST)")


class Renderer:
    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            undefined=StrictUndefined,
            autoescape=False,  # noqa: S701 - plain-text email, SMS and letters; nothing is rendered as HTML
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters.update(
            mask_account=masking.mask_account,
            mask_email=masking.mask_email,
            mask_phone=masking.mask_phone,
            mask_address=masking.mask_address,
        )
        self.env.globals["mask_apart"] = masking.mask_apart

    def render(self, event: EventType, language: Language, data: dict[str, Any]) -> Rendered:
        template = self.env.get_template(f"{event.value}.{language}.j2")
        context = {
            **data,
            "company": self.sender.company,
            "support_phone": self.sender.support_phone,
            "support_hours": self.sender.support_hours,
            "language": language,
            "yen": lambda amount: yen(amount, language),
            "jst": lambda moment: jst(moment, language),
        }
        return Rendered(
            subject=_block(template, "subject", context),
            body=_block(template, "body", context),
            sms=_block(template, "sms", context),
            letter=_block(template, "letter", context),
        )


def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    block = template.blocks.get(name)
    if block is None:
        return ""
    return "".join(block(template.new_context(context))).strip()
