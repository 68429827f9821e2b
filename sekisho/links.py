"""`sekisho links review`: the existing-link review (INC-9, services/txn/link_review.py) run against txn's database.

The command acts as txn: it signs its calls to auth (the owners' contacts) with txn's identity key, and queues the
owners' notices and fraud's events in txn's outbox, which the running txn service relays (a notice waits there
while txn is down, and leaves when it is up).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

import httpx

from services.txn import models
from services.txn.app import MIGRATIONS
from services.txn.link_review import ReviewReport, review_links
from services.txn.runtime import build_runtime
from services.txn.settings import TxnSettings
from shared.clock import Clock, SystemClock
from shared.crypto import FieldCipher
from shared.database import Database, target_for
from shared.identity import IdentityIssuer
from shared.internal_client import InternalClient
from shared.migrations import head_revision
from shared.outbox import Outbox


class ReviewProgress:
    """`links review: 200 of 1,234 links reviewed` on stderr after each batch."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, done: int, total: int) -> None:
        self._stream.write(f"links review: {done:,} of {total:,} links reviewed\n")
        self._stream.flush()


async def review(
    settings: TxnSettings,
    *,
    batch: int,
    dry_run: bool,
    progress: ReviewProgress | None = None,
    clock: Clock | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> ReviewReport:
    """Review the links (`transports`: how a test reaches auth in-process)."""
    identity_key, _ = settings.require_identity_keys("txn")
    cipher = FieldCipher(settings.require_data_keys(), index_key=settings.index_key())
    clock = clock or SystemClock()
    database = Database(target_for(settings, "txn"), pool_size=1)
    issuer = IdentityIssuer(
        service="txn", key=identity_key, clock=clock, ttl_seconds=settings.internal_token_ttl_seconds
    )
    client = InternalClient(settings=settings, issuer=issuer, transports=transports)
    try:
        if await database.revision() != head_revision(MIGRATIONS):
            raise LookupError("the txn database is not migrated: run `sekisho migrate txn` first")
        runtime = build_runtime(
            settings,
            database=database,
            cipher=cipher,
            clock=clock,
            outbox=Outbox(table=models.outbox, database=database, client=client, cipher=cipher, clock=clock),
            client=client,
        )
        return await review_links(runtime, batch=batch, dry_run=dry_run, progress=progress)
    finally:
        await client.aclose()
        await database.dispose()
