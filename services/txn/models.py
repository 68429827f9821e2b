"""Tables of the txn service's own schema."""

from __future__ import annotations

from shared.database import new_metadata

metadata = new_metadata()
