"""Password hashing: argon2id with OWASP parameters (DATA-2), rehash on login, dummy verification, off the loop."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable

import pytest

from services.auth.hashing import (
    HASHING_NICENESS,
    OWASP_PARAMETERS,
    Argon2Parameters,
    PasswordHasher,
    VerifyResult,
)

PASSWORD = "Kumo-Sora-47-Umi"
OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher()


@pytest.mark.req("DATA-2")
async def test_a_password_is_stored_as_an_argon2id_hash_with_owasp_parameters(hasher: PasswordHasher) -> None:
    stored = await hasher.hash(PASSWORD)
    assert Argon2Parameters(memory_cost=19456, time_cost=2, parallelism=1) == OWASP_PARAMETERS
    assert stored.startswith(OWASP_PREFIX)
    assert PASSWORD not in stored
    assert await hasher.hash(PASSWORD) != stored  # salted


@pytest.mark.req("DATA-2")
async def test_the_right_password_verifies_and_a_wrong_one_does_not(hasher: PasswordHasher) -> None:
    stored = await hasher.hash(PASSWORD)
    assert await hasher.verify(PASSWORD, stored) == VerifyResult(ok=True, new_hash=None)
    assert await hasher.verify("Kumo-Sora-47-Umj", stored) == VerifyResult(ok=False, new_hash=None)
    assert await hasher.verify(PASSWORD.lower(), stored) == VerifyResult(ok=False, new_hash=None)
    assert hasher.verifications == 3


@pytest.mark.req("DATA-2")
@pytest.mark.parametrize(
    "outdated",
    [
        Argon2Parameters(time_cost=1),
        Argon2Parameters(memory_cost=12288),
        Argon2Parameters(parallelism=2),
        Argon2Parameters(time_cost=3),
    ],
    ids=["t=1", "m=12288", "p=2", "t=3"],
)
async def test_a_hash_with_other_parameters_is_upgraded_on_login(
    hasher: PasswordHasher, outdated: Argon2Parameters
) -> None:
    stored = await PasswordHasher(outdated).hash(PASSWORD)
    assert not stored.startswith(OWASP_PREFIX)

    result = await hasher.verify(PASSWORD, stored)

    assert result.ok
    assert result.new_hash is not None
    assert result.new_hash.startswith(OWASP_PREFIX)
    assert await hasher.verify(PASSWORD, result.new_hash) == VerifyResult(ok=True, new_hash=None)


@pytest.mark.req("DATA-2")
async def test_a_wrong_password_never_yields_a_new_hash(hasher: PasswordHasher) -> None:
    stored = await PasswordHasher(Argon2Parameters(time_cost=1)).hash(PASSWORD)
    assert await hasher.verify("Kumo-Sora-47-Umj", stored) == VerifyResult(ok=False, new_hash=None)


async def test_a_stored_value_that_is_no_hash_is_an_error_not_a_failed_login(hasher: PasswordHasher) -> None:
    with pytest.raises(ValueError, match="hash could not be identified"):
        await hasher.verify(PASSWORD, PASSWORD)


async def test_full_width_input_is_the_same_password(hasher: PasswordHasher) -> None:
    # A Japanese IME left in full-width mode types "Ｋｕｍｏ…"; NFKC makes it the password the customer meant.
    stored = await hasher.hash(PASSWORD)
    assert (await hasher.verify("Ｋｕｍｏ－Ｓｏｒａ－４７－Ｕｍｉ", stored)).ok


async def test_an_unknown_login_id_still_spends_one_verification(hasher: PasswordHasher) -> None:
    await hasher.verify_dummy(PASSWORD)
    assert hasher.verifications == 1
    await hasher.verify_dummy("anything else")
    assert hasher.verifications == 2


async def test_the_dummy_verification_costs_what_a_wrong_password_costs(hasher: PasswordHasher) -> None:
    # With the real parameters: cheaper ones would hide a difference in cost.
    stored = await hasher.hash(PASSWORD)
    await hasher.verify_dummy(PASSWORD)  # the dummy hash is made on first use; not part of the comparison

    async def timed(call: Awaitable[object]) -> float:
        start = time.perf_counter()
        await call
        return time.perf_counter() - start

    wrong: list[float] = []
    dummy: list[float] = []
    for _ in range(7):  # interleaved, so that a burst of load elsewhere falls on both alike
        wrong.append(await timed(hasher.verify("Kumo-Sora-47-Umj", stored)))
        dummy.append(await timed(hasher.verify_dummy("Kumo-Sora-47-Umj")))

    ratio = statistics.median(dummy) / statistics.median(wrong)
    assert 0.5 < ratio < 2, (
        f"dummy {statistics.median(dummy) * 1000:.1f} ms, wrong {statistics.median(wrong) * 1000:.1f} ms"
    )


async def test_hashing_does_not_block_the_event_loop(hasher: PasswordHasher) -> None:
    # With the real parameters: four hashes cost 70-100 ms of CPU. Measured as the CPU time of the event loop's own
    # thread, not as gaps between its ticks, which a loaded machine widens whatever the code does (the check fails
    # when `_run` calls the function directly).
    loop_cpu = time.thread_time()
    started = time.process_time()

    async def one() -> str:
        return await hasher.hash(PASSWORD)

    hashes = await asyncio.gather(*(one() for _ in range(4)))
    on_loop, in_all = time.thread_time() - loop_cpu, time.process_time() - started

    assert all(stored.startswith(OWASP_PREFIX) for stored in hashes)
    assert in_all > 0.02, f"four hashes took {in_all * 1000:.0f} ms of CPU: too cheap to show anything"
    assert on_loop < in_all / 4, f"{on_loop * 1000:.0f} ms of {in_all * 1000:.0f} ms hashing ran on the loop's thread"


@pytest.mark.skipif(sys.platform != "linux", reason="niceness per thread is Linux's")
async def test_hashes_run_in_one_thread_per_cpu_below_the_event_loop_priority(hasher: PasswordHasher) -> None:
    # A flood of logins must neither take the CPU from the event loop nor start a 19 MiB hash per request.
    cpus = os.cpu_count() or 1
    loop_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    hashes = await asyncio.gather(*(hasher.hash(PASSWORD) for _ in range(3 * cpus)))

    assert len(set(hashes)) == 3 * cpus
    threads = [thread for thread in threading.enumerate() if thread.name.startswith("argon2id")]
    assert 1 <= len(threads) <= cpus
    niceness = {os.getpriority(os.PRIO_PROCESS, thread.native_id) for thread in threads if thread.native_id}
    assert niceness == {min(19, loop_niceness + HASHING_NICENESS)}
