"""`sekisho books check`: the ledger's proof that the books balance, against txn's database."""

from __future__ import annotations

from services.txn.books import BooksReport, check_books
from services.txn.settings import TxnSettings
from shared.database import Database, target_for


async def check(settings: TxnSettings) -> BooksReport:
    database = Database(target_for(settings, "txn"), pool_size=1)
    try:
        if await database.revision() is None:
            raise LookupError("the txn database has no tables: run `sekisho migrate txn` first")
        async with database.reading() as session:
            return await check_books(session)
    finally:
        await database.dispose()
