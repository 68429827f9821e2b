"""Waiting helpers for tests; the SMTP and SMS stand-ins live in sekisho.sinks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sekisho.sinks import ReceivedSms, SmsSink, SmtpSink

__all__ = ["ReceivedSms", "SmsSink", "SmtpSink", "eventually", "eventually_async"]


async def eventually(check: Callable[[], bool], *, within: float = 10.0, interval: float = 0.02) -> None:
    """Wait (without sleeping the event loop away) until `check()` holds; fail with the timeout otherwise."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, interval: float = 0.05
) -> None:
    """Like `eventually`, for a check that must itself await (an HTTP call)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)
