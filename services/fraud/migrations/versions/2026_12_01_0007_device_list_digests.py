"""the devices lists hold digests of device keys, and cases' actions name a deny-listed device by its digest

Revision ID: fraud_0007
Revises: fraud_0006
Create Date: 2026-12-01
"""

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "fraud_0007"
down_revision: str | None = "fraud_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIGEST = re.compile(r"^sha256:[0-9a-f]{32}$")
# What actions.py wrote for a deny_device action before: the key itself, in one of two sentences.
_LISTED = re.compile(r"^listed (?P<value>.+) until (?P<until>\S+)$", re.DOTALL)
_ALREADY = re.compile(r"^(?P<value>.+) was already on the deny list$", re.DOTALL)


def _digest(value: str) -> str:
    # services/fraud/device_digests.py (as_digest), repeated: a migration must keep doing what it did when written.
    return value if _DIGEST.match(value) else "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:32]


def _result(result: str) -> str:
    listed = _LISTED.match(result)
    if listed:
        return f"listed {_digest(listed['value'])} until {listed['until']}"
    already = _ALREADY.match(result)
    if already:
        return f"{_digest(already['value'])} was already on the deny list"
    return result  # "skipped: no device key"


def _actions(actions: list[Any]) -> list[Any]:
    for action in actions:
        if isinstance(action, dict) and action.get("action") == "deny_device" and isinstance(action.get("result"), str):
            action["result"] = _result(action["result"])
    return actions


def upgrade() -> None:
    bind = op.get_bind()
    entry = sa.table(
        "list_entry", sa.column("id", sa.String()), sa.column("list", sa.String()), sa.column("value", sa.String())
    )
    rows = bind.execute(sa.select(entry.c.id, entry.c.value).where(entry.c.list == "devices")).all()
    for row in rows:
        if not _DIGEST.match(row.value):
            bind.execute(entry.update().where(entry.c.id == row.id).values(value=_digest(row.value)))
    case = sa.table("fraud_case", sa.column("id", sa.String()), sa.column("actions", sa.Text()))
    cases = bind.execute(sa.select(case.c.id, case.c.actions).where(case.c.actions.like("%deny_device%"))).all()
    for row in cases:
        actions = json.dumps(_actions(json.loads(row.actions)), ensure_ascii=False)
        if actions != row.actions:
            bind.execute(case.update().where(case.c.id == row.id).values(actions=actions))


def downgrade() -> None:
    pass  # a digest cannot be turned back into its key; the code before this revision matched keys only
