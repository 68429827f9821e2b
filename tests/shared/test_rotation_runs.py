"""`sekisho keys rotate` run twice at once, as two operators (or a Job restarted while the first still ran) would:
each value is re-encrypted exactly once, each run only skips what the other wrote, and every value still opens to
what it was. A value under a key that is not listed is counted unreadable and left as it is."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from sekisho.keys import BeforeWrite, rotate, status
from services.auth import models
from shared.crypto import FieldCipher, new_key_spec, parse_keys
from shared.database import Database, target_for
from shared.outbox import PAYLOAD_CONTEXT
from shared.sealed_columns import SealedColumn
from tests.harness import TEST_DATA_KEYS, Backend, copy_template, migrated

VALUES = 24


async def test_two_runs_at_once_re_encrypt_each_value_once_and_every_value_still_opens(backend: Backend) -> None:
    await copy_template(backend)
    await migrated(backend, "auth")
    old, stranger = FieldCipher(parse_keys(TEST_DATA_KEYS)), FieldCipher(parse_keys(new_key_spec("x9")))
    cipher = FieldCipher(parse_keys(f"{new_key_spec('k2')},{TEST_DATA_KEYS}"))
    now = datetime.now(UTC)
    # Two processes: each its own database connections.
    first, second = (Database(target_for(backend.settings("auth"), "auth"), pool_size=2) for _ in range(2))
    try:
        async with first.transaction() as session:
            await session.execute(
                insert(models.outbox),
                [
                    {
                        "id": f"obx_{number:03d}",
                        "destination": "notify",
                        "path": "/internal/notifications",
                        "idempotency_key": f"key-{number}",
                        "payload": (stranger if number == 7 else old).seal(
                            f"payload {number}", context=PAYLOAD_CONTEXT
                        ),
                        "created_at": now,
                        "next_attempt_at": now,
                        "attempts": 0,
                    }
                    for number in range(VALUES)
                ],
            )
        # Both runs read their first batch (the same first rows) before either writes: the race, every time.
        read: list[str] = []
        both_read = asyncio.Event()

        def first_batch_read(run: str) -> BeforeWrite:
            async def hook(sealed: SealedColumn, rows: Sequence[Mapping[str, Any]]) -> None:
                if run not in read:
                    read.append(run)
                    if len(read) == 2:
                        both_read.set()
                    await asyncio.wait_for(both_read.wait(), 10)

            return hook

        reports = await asyncio.gather(
            rotate({"auth": first}, cipher, batch_size=3, before_write=first_batch_read("first")),
            rotate({"auth": second}, cipher, batch_size=2, before_write=first_batch_read("second")),
        )
        assert sum(report.total("rotated") for report in reports) == VALUES - 1  # each once, by one run or the other
        assert [report.total("unreadable") for report in reports] == [1, 1]  # x9's value, in both runs
        assert [report.total("remaining") for report in reports] == [1, 1]
        assert sum(report.total("skipped") for report in reports) >= 2  # the first two rows: the later write lost
        by_key = next(e for e in await status({"auth": first}) if e.table == "outbox_message").by_key
        assert by_key == {"k2": VALUES - 1, "x9": 1}
        async with first.reading() as session:
            rows = (await session.execute(select(models.outbox.c.id, models.outbox.c.payload))).all()
        for row in rows:
            number = int(row.id.removeprefix("obx_"))
            opener = stranger if number == 7 else cipher
            assert opener.open(row.payload, context=PAYLOAD_CONTEXT) == f"payload {number}"
            assert row.payload.startswith("v1.x9." if number == 7 else "v1.k2.")
    finally:
        await first.dispose()
        await second.dispose()
