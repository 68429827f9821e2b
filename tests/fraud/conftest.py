"""Fixtures of the fraud tests: the whole system in-process, as auth's tests run it (staff sign in for real)."""

from tests.auth.conftest import system

__all__ = ["system"]
