"""Tables of the kyc service's own schema."""

from __future__ import annotations

from shared.database import new_metadata
from shared.outbox import outbox_table

metadata = new_metadata()

outbox = outbox_table(metadata)
