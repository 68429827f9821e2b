"""Password logins through the gateway, against what argon2id alone costs on this machine.

Setup: ACCOUNTS accounts are opened through the gateway and each completes one SMS-code login, so that its
device is trusted and every later password login from it answers 200 with tokens (one argon2id verification
each, OWASP parameters). Then CLIENTS concurrent clients log in, one account each.

Figures, each beside its baseline from the same run:
- logins per CPU-second of the auth process (utime+stime from /proc) against raw argon2id verifications per
  CPU-second of one core in this process (services.auth.hashing.PasswordHasher.verify, one at a time);
  target ratio >= 0.8. This machine's speed drifts within a run (by up to 14% between the start and the end),
  so the load is measured in SLICES windows of WINDOW_S seconds, and the raw rate before and after each one,
  the clients paused meanwhile: each window's ratio has the mean of the two raw rates beside it as its
  baseline, and the median of the windows' ratios is the figure held against the target;
- the event-loop stall of auth (target max 20 ms): after the windows, the load going on, every
  PROBE_INTERVAL_S a process of its own GETs /healthz on auth and, in the same round, on kyc, which stays
  idle; a stall of auth's loop delays only auth's answer, while what a saturated machine does to a probe (a
  CPU busy elsewhere, the scheduler) delays both, so the stall is auth's time beyond kyc's. Both latencies are
  printed too, and auth idle before the load. The probes run apart from the CPU windows: their requests to
  auth would count as login work.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import re
import secrets
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from bench.processes import cpu_seconds, machine_busy_seconds, service_pid
from bench.stats import Latency
from sekisho.launcher import LaunchedSystem
from sekisho.sinks import SmsSink, SmtpSink
from services.auth.hashing import PasswordHasher

ACCOUNTS = 8
CLIENTS = min(ACCOUNTS, max(4, 2 * (os.cpu_count() or 1)))  # two logins in flight per core keep auth busy
WARMUP_S = 2.0
SLICES = 3
WINDOW_S = 8.0
RESUME_S = 1.0  # after a pause, before a window opens: every client is logging in again
STALL_WINDOW_S = 8.0
PROBE_WARMUP_S = 1.0  # the probing process starts (spawned) and connects
RAW_S = 2.5
IDLE_PROBE_S = 3.0
PROBE_INTERVAL_S = 0.010
RATIO_TARGET = 0.8
STALL_TARGET_MS = 20.0
SMS_TIMEOUT_S = 15.0
USER_AGENT = "sekisho-bench/1.0"
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class Account:
    email: str
    phone: str  # E.164, as the SMS provider sees it
    password: str
    device_id: str


# --- baseline: argon2id alone ---------------------------------------------------------------------------------


async def _raw_verifications(hasher: PasswordHasher, password: str, hashed: str, seconds: float) -> int:
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        result = await hasher.verify(password, hashed)
        assert result.ok
        count += 1
    return count


async def raw_rate(password: str, parallel: int) -> tuple[float, float]:
    """(verifications per wall second, verifications per CPU-second) with `parallel` verifications at a time."""
    hasher = PasswordHasher()
    hashed = await hasher.hash(password)
    await hasher.verify(password, hashed)  # warm: the thread pool, the allocator
    wall, cpu = time.perf_counter(), time.process_time()
    counts = await asyncio.gather(*(_raw_verifications(hasher, password, hashed, RAW_S) for _ in range(parallel)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return sum(counts) / wall, sum(counts) / cpu


# --- setup: accounts with a trusted device --------------------------------------------------------------------


def new_account(i: int, run: str) -> tuple[Account, dict[str, str]]:
    digits = f"{secrets.randbelow(10**4):04d}{i:04d}"  # 8 digits: a mobile number for up to 10,000 accounts
    local = f"bench.login{i}.{run}"
    account = Account(
        email=f"{local}@example.jp",
        phone="+8190" + digits,
        password=f"Yuzu-Kaede-{i}{secrets.choice('QWXZ')}!",
        device_id=f"bench-device-{run}-{i:04d}",
    )
    application = {
        "email": account.email,
        "phone": f"090-{digits[:4]}-{digits[4:]}",
        "name": "試験 太郎",
        "name_kana": "シケン タロウ",
        "birth_date": "1985-03-15",
        "address": "東京都千代田区丸の内1-1-1",
        "password": account.password,
    }
    return account, application


async def login(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.post(
        "/v1/auth/login",
        json={"login_id": account.email, "password": account.password, "device_id": account.device_id},
        headers={"User-Agent": USER_AGENT},
    )


async def trust_device(client: httpx.AsyncClient, sms: SmsSink, account: Account) -> None:
    """One login with the password and an SMS code: the device is trusted from then on."""
    first = await login(client, account)
    assert first.status_code == 401, first.text
    assert first.json()["code"] == "mfa_required", first.text
    challenge_id = first.json()["challenge"]["id"]
    sent = await client.post(f"/v1/auth/challenges/{challenge_id}/send", json={"method": "sms"})
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + SMS_TIMEOUT_S
    while not (messages := [m for m in list(sms.received) if m.to == account.phone]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no SMS code reached {account.phone} within {SMS_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.01)
    found = _CODE.search(messages[-1].body)
    assert found is not None, messages[-1].body
    verified = await client.post(
        f"/v1/auth/challenges/{challenge_id}/verify", json={"method": "sms", "code": found.group(1)}
    )
    assert verified.status_code == 200, verified.text
    again = await login(client, account)
    assert again.status_code == 200, again.text


async def open_accounts(client: httpx.AsyncClient, sms: SmsSink) -> list[Account]:
    run = secrets.token_hex(3)
    accounts = []
    for i in range(ACCOUNTS):
        account, application = new_account(i, run)
        response = await client.post("/v1/accounts", json=application)
        assert response.status_code == 201, response.text
        accounts.append(account)
    for account in accounts:
        await trust_device(client, sms, account)
    return accounts


# --- load and probes ------------------------------------------------------------------------------------------


class Load:
    """CLIENTS logging in until stopped, and every completed login: (time.monotonic() at its start, at its end).
    `pause()` lets the logins in flight finish and starts no new one until `resume()`."""

    def __init__(self) -> None:
        self.completed: list[tuple[float, float]] = []
        self.statuses: Counter[int] = Counter()
        self.stopped = False
        self._running = asyncio.Event()
        self._running.set()
        self._in_flight = 0
        self._idle = asyncio.Event()  # set while no login is in flight

    async def client(self, gateway: httpx.AsyncClient, account: Account) -> None:
        while True:
            await self._running.wait()
            if self.stopped:
                return
            self._in_flight += 1
            self._idle.clear()
            try:
                started = time.monotonic()
                response = await login(gateway, account)
                finished = time.monotonic()
            finally:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()
            self.statuses[response.status_code] += 1
            if response.status_code != 200:
                raise RuntimeError(f"login answered {response.status_code}: {response.text[:300]}")
            self.completed.append((started, finished))

    async def pause(self) -> None:
        self._running.clear()
        if self._in_flight:
            await self._idle.wait()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self.stopped = True
        self._running.set()

    def finished_within(self, start: float, end: float) -> int:
        """Logins that ended in [start, end): in a steady load, as many as the window's CPU paid for."""
        return sum(1 for _started, finished in self.completed if start <= finished < end)

    def latencies_within(self, start: float, end: float) -> list[float]:
        return [finished - started for started, finished in self.completed if start <= started and finished < end]


@dataclass(frozen=True)
class Window:
    """One CPU window under the load: its bounds (time.monotonic) and the CPU-seconds spent in it."""

    start: float
    end: float
    auth: float
    loop: float  # auth's main thread, which runs the event loop
    gateway: float
    bench: float
    machine: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


async def cpu_window(auth_pid: int, gateway_pid: int) -> Window:
    auth0, loop0, gateway0 = cpu_seconds(auth_pid), cpu_seconds(auth_pid, auth_pid), cpu_seconds(gateway_pid)
    bench0, (machine0, _) = time.process_time(), machine_busy_seconds()
    start = time.monotonic()
    await asyncio.sleep(WINDOW_S)
    end = time.monotonic()
    return Window(
        start=start,
        end=end,
        auth=cpu_seconds(auth_pid) - auth0,
        loop=cpu_seconds(auth_pid, auth_pid) - loop0,
        gateway=cpu_seconds(gateway_pid) - gateway0,
        bench=time.process_time() - bench0,
        machine=machine_busy_seconds()[0] - machine0,
    )


def _probe(
    urls: list[str], stop: multiprocessing.synchronize.Event, results: multiprocessing.connection.Connection
) -> None:
    """Every PROBE_INTERVAL_S until `stop`, GET each of `urls` back to back, each on its own kept-alive connection
    (the order alternates from one round to the next), then send back the rounds as (time.monotonic() at the
    start, seconds taken by each). Runs in a process of its own: a thread of the bench would wait for the bench's
    GIL, held by the load clients, and time that wait as the service's."""
    targets = [urlsplit(url) for url in urls]
    connections = [http.client.HTTPConnection(t.hostname or "127.0.0.1", t.port, timeout=10) for t in targets]

    def get(i: int) -> float:
        started = time.monotonic()
        connections[i].request("GET", targets[i].path)
        response = connections[i].getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{urls[i]} answered {response.status}")
        return time.monotonic() - started

    for i in range(len(urls)):
        get(i)  # connect first: only requests on open connections are timed
    rounds: list[tuple[float, list[float]]] = []
    order = list(range(len(urls)))
    while not stop.is_set():
        started, taken = time.monotonic(), [0.0] * len(urls)
        for i in order:
            taken[i] = get(i)
        rounds.append((started, taken))
        order.reverse()
        stop.wait(PROBE_INTERVAL_S)
    for connection in connections:
        connection.close()
    results.send(rounds)


# Spawned, not forked: this process runs threads (the SMTP and SMS sinks) that a fork would copy mid-flight.
_PROCESSES = multiprocessing.get_context("spawn")


class Probes:
    """Probes of two services in the same rounds, from a process of their own: the one under test and an idle
    twin on the same machine. What the machine does to a probe (a CPU busy elsewhere, the scheduler) reaches both
    alike; what the tested service's event loop does reaches only it."""

    def __init__(self, tested: str, idle: str) -> None:
        self._stop = _PROCESSES.Event()
        self._receiving, sending = _PROCESSES.Pipe(duplex=False)
        self._process = _PROCESSES.Process(target=_probe, args=([tested, idle], self._stop, sending), daemon=True)
        self._rounds: list[tuple[float, list[float]]] = []

    def __enter__(self) -> Probes:
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._rounds = self._receiving.recv() if self._receiving.poll(30) else []
        self._process.join(timeout=10)

    def between(self, start: float = 0.0, end: float = float("inf")) -> tuple[list[float], list[float]]:
        """The latencies (tested, idle) of the rounds that ran within [start, end]."""
        rounds = [taken for started, taken in self._rounds if start <= started and started + sum(taken) <= end]
        return [tested for tested, _idle in rounds], [idle for _tested, idle in rounds]


def _stall(samples: list[float]) -> str:
    latency = Latency.of(samples)
    return (
        f"max {max(samples) * 1000:.2f} ms, p99 {latency.p99_ms:.2f} ms, p50 {latency.p50_ms:.2f} ms "
        f"(n={latency.count})"
    )


async def _measure(system: LaunchedSystem, sms: SmsSink) -> str:
    auth_pid, gateway_pid = service_pid(system, "auth"), service_pid(system, "gateway")
    cores = os.cpu_count() or 1
    limits = httpx.Limits(max_connections=CLIENTS + 2, max_keepalive_connections=CLIENTS + 2)
    async with httpx.AsyncClient(base_url=system.urls["gateway"], timeout=30, limits=limits) as gateway:
        accounts = await open_accounts(gateway, sms)
        password = accounts[0].password
        par_wall, par_cpu = await raw_rate(password, parallel=cores)

        health = (system.urls["auth"] + "/healthz", system.urls["kyc"] + "/healthz")
        with Probes(*health) as idle:
            await asyncio.sleep(IDLE_PROBE_S)
        idle_auth, idle_kyc = idle.between()

        load = Load()
        clients = [asyncio.create_task(load.client(gateway, accounts[i % len(accounts)])) for i in range(CLIENTS)]
        await asyncio.sleep(WARMUP_S)
        raws: list[float] = []  # raw verifications per CPU-second, before each window and after the last
        windows: list[Window] = []
        for _ in range(SLICES):
            await load.pause()
            raws.append((await raw_rate(password, parallel=1))[1])
            load.resume()
            await asyncio.sleep(RESUME_S)
            windows.append(await cpu_window(auth_pid, gateway_pid))
        await load.pause()
        raws.append((await raw_rate(password, parallel=1))[1])
        load.resume()
        await asyncio.sleep(RESUME_S)
        with Probes(*health) as loaded:
            await asyncio.sleep(PROBE_WARMUP_S)
            probed_from = time.monotonic()
            await asyncio.sleep(STALL_WINDOW_S)
            probed_to = time.monotonic()
        load.stop()
        await asyncio.gather(*clients)
    assert set(load.statuses) == {200}, load.statuses  # a client raises on any other answer

    logins = [load.finished_within(w.start, w.end) for w in windows]
    baselines = [(before + after) / 2 for before, after in itertools.pairwise(raws)]
    ratios = [n / w.auth / raw for n, w, raw in zip(logins, windows, baselines, strict=True)]
    ratio = statistics.median(ratios)
    n, elapsed = sum(logins), sum(w.seconds for w in windows)
    auth_cpu, loop_cpu = sum(w.auth for w in windows), sum(w.loop for w in windows)
    gateway_cpu, bench_cpu = sum(w.gateway for w in windows), sum(w.bench for w in windows)
    other_cpu = sum(w.machine for w in windows) - auth_cpu - gateway_cpu - bench_cpu
    raw_cpu = statistics.mean(baselines)
    latency = Latency.of([lat for w in windows for lat in load.latencies_within(w.start, w.end)])
    loaded_auth, loaded_kyc = loaded.between(probed_from, probed_to)
    # What auth's own event loop added to a probe: its time beyond the idle twin's in the same round.
    excess = [max(0.0, tested - idle) for tested, idle in zip(loaded_auth, loaded_kyc, strict=True)]
    auth_stall = max(excess) * 1000
    per_window = ", ".join(
        f"{r:.2f} ({n_w / w.auth:.1f} logins per CPU-s / raw {raw:.1f})"
        for r, n_w, w, raw in zip(ratios, logins, windows, baselines, strict=True)
    )
    return (
        f"password logins through the gateway ({CLIENTS} clients, {ACCOUNTS} trusted devices, {SLICES} windows of "
        f"{WINDOW_S:.0f} s): {n / elapsed:.1f} logins/s, all 200 (n={n})\n"
        f"  login latency: p50 {latency.p50_ms:.1f} ms, p99 {latency.p99_ms:.1f} ms\n"
        f"  auth process: {auth_cpu:.2f} CPU-s = {auth_cpu / elapsed:.2f} cores busy -> "
        f"{n / auth_cpu:.1f} logins per busy-core-second\n"
        f"  auth CPU per login: {auth_cpu / n * 1000:.1f} ms = event-loop thread {loop_cpu / n * 1000:.1f} ms "
        f"(HTTP, SQL, tokens) + worker threads {(auth_cpu - loop_cpu) / n * 1000:.1f} ms (argon2id); "
        f"baseline one raw verification {1000 / raw_cpu:.1f} ms\n"
        f"  baseline raw argon2id verify (PasswordHasher, one at a time, this process), per CPU-second, before "
        f"each window and after the last: {', '.join(f'{r:.1f}' for r in raws)}\n"
        f"  ratio logins per auth core-second / raw verifications per core-second, per window: {per_window}\n"
        f"  ratio, median of the windows: {ratio:.2f} (target >= {RATIO_TARGET}: "
        f"{'met' if ratio >= RATIO_TARGET else 'NOT met'})\n"
        f"  for reference, raw argon2id with {cores} at a time on {cores} CPUs: {par_wall:.1f}/s, "
        f"{par_cpu:.1f} per CPU-second\n"
        f"  machine busy {(auth_cpu + gateway_cpu + bench_cpu + other_cpu) / elapsed:.2f} of {cores} cores during "
        f"the windows: auth {auth_cpu / elapsed:.2f}, gateway {gateway_cpu / elapsed:.2f}, bench client "
        f"{bench_cpu / elapsed:.2f}, the rest (PostgreSQL, other services, anything else running) "
        f"{other_cpu / elapsed:.2f}\n"
        f"event-loop stall of auth during the load: GET /healthz on auth beyond the same probe on kyc (idle, same "
        f"machine) in the same round, every {PROBE_INTERVAL_S * 1000:.0f} ms: {_stall(excess)} "
        f"(target max {STALL_TARGET_MS:.0f} ms: {'met' if auth_stall <= STALL_TARGET_MS else 'NOT met'})\n"
        f"  GET /healthz on auth during the load: {_stall(loaded_auth)}; auth idle before it: {_stall(idle_auth)}\n"
        f"  GET /healthz on kyc during the load: {_stall(loaded_kyc)}; before it: {_stall(idle_kyc)}"
    )


def run(system: LaunchedSystem, *, env: dict[str, str], sms: SmsSink, smtp: SmtpSink) -> str:
    return asyncio.run(_measure(system, sms))
