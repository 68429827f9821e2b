"""Where a service keeps values sealed with the data keys (shared/crypto.py, DATA-2): the one list a data-key
rotation works from (`sekisho keys rotate|status`).

Each service declares its sealed columns in `services/<service>/sealed.py` (`SEALED_COLUMNS`); a column missing
there would never be re-encrypted and would stop opening the day its old key is dropped, so
tests/shared/test_sealed_columns.py fails when a service seals a context its list does not name.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.outbox import PAYLOAD_CONTEXT


@dataclass(frozen=True)
class SealedColumn:
    """`table.column`, found by `primary_key`, sealed with `context` as associated data. A context may name other
    columns of the row in braces (`contact_change.{attribute}`): the column's context then depends on the row."""

    table: str
    primary_key: str
    column: str
    context: str

    @property
    def context_columns(self) -> tuple[str, ...]:
        """The columns the context is made from (none for a fixed context)."""
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.context) if name)

    def context_of(self, row: Mapping[str, Any]) -> str:
        return self.context.format(**{name: row[name] for name in self.context_columns})

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


# Every service has an outbox (shared/outbox.py), its payloads sealed: they may carry contact data.
OUTBOX_PAYLOAD = SealedColumn("outbox_message", "id", "payload", PAYLOAD_CONTEXT)
