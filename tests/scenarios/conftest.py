"""The two seed frauds replayed against the whole system, in-process: txn's system fixture."""

from tests.txn.conftest import system

__all__ = ["system"]
