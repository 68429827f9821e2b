"""The PostgreSQL database a benchmark run uses: SEKISHO_BENCH_DATABASE_URL, or a fresh one on the local server."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def bench_database() -> Iterator[str]:
    given = os.environ.get("SEKISHO_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    name = f"sekisho_bench_{int(time.time())}_{os.getpid()}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(LOCAL_SERVER)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
