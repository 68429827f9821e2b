"""Argon2id password hashing (DATA-2): hash, verify and upgrade, always in a worker thread."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from passlib.context import CryptContext

from services.auth.passwords import normalize_password

T = TypeVar("T")


@dataclass(frozen=True)
class Argon2Parameters:
    memory_cost: int = 19456  # KiB
    time_cost: int = 2
    parallelism: int = 1


# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
OWASP_PARAMETERS = Argon2Parameters()

# How much lower the hashing threads' CPU priority is than the rest of the process (Linux niceness).
HASHING_NICENESS = 10


def _lower_priority() -> None:
    """Each hashing thread, as it starts: a lower priority for itself alone (on Linux, niceness is per thread).
    A flood of logins then takes the CPU the event loop leaves, never the loop's own: other requests, and the
    loop handing out the next hashes, keep their pace on a saturated machine."""
    if sys.platform == "linux":
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS))


# The process's hashing threads (started on first use), one per CPU: hashing is CPU-bound, so more threads would
# only add switching, and each hash in progress holds `memory_cost` KiB: a flood queues instead of taking memory.
HASHING_THREADS = ThreadPoolExecutor(
    max_workers=os.cpu_count() or 1, thread_name_prefix="argon2id", initializer=_lower_priority
)


@dataclass(frozen=True)
class VerifyResult:
    """`new_hash` is set when the password was right but its stored hash has outdated parameters;
    the caller stores it in place of the old one."""

    ok: bool
    new_hash: str | None = None


class PasswordHasher:
    """Argon2id through passlib, off the event loop, in the process's hashing threads (`HASHING_THREADS`): one
    hash costs tens of milliseconds of CPU. `verifications` counts every verification made, the dummy ones
    included.
    """

    def __init__(self, parameters: Argon2Parameters = OWASP_PARAMETERS) -> None:
        self.parameters = parameters
        self.verifications = 0
        self._dummy_hash: str | None = None
        # min_rounds = max_rounds = time_cost: passlib only flags a hash whose rounds fall outside the
        # desired range, so pinning both makes any other time cost, lower or higher, a rehash on login.
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=parameters.memory_cost,
            argon2__rounds=parameters.time_cost,
            argon2__min_rounds=parameters.time_cost,
            argon2__max_rounds=parameters.time_cost,
            argon2__parallelism=parameters.parallelism,
        )

    async def hash(self, password: str) -> str:
        hashed: str = await self._run(self._context.hash, normalize_password(password))
        return hashed

    async def verify(self, password: str, hash: str) -> VerifyResult:
        """Raises passlib's `ValueError` subclasses when `hash` is not a hash this context knows."""
        try:
            ok, new_hash = await self._run(self._context.verify_and_update, normalize_password(password), hash)
        finally:
            self.verifications += 1
        return VerifyResult(ok=bool(ok), new_hash=new_hash if ok else None)

    async def verify_dummy(self, password: str) -> None:
        """One verification that always fails, for a login id that does not exist.

        It costs what a wrong password costs, so the response time does not tell an attacker which
        login ids exist.
        """
        if self._dummy_hash is None:
            # Two first calls racing may each make one; either is as good, so no lock is needed.
            self._dummy_hash = await self.hash(secrets.token_urlsafe(32))
        dummy = self._dummy_hash
        try:
            # The same call a real login makes, so that the two cost the same.
            await self._run(self._context.verify_and_update, normalize_password(password), dummy)
        finally:
            self.verifications += 1

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(HASHING_THREADS, function, *args)
