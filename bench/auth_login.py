"""Password logins through the gateway, against what argon2id alone costs on this machine.

Setup: ACCOUNTS accounts are opened through the gateway and each completes one SMS-code login, so that its
device is trusted and every later password login from it answers 200 with tokens (one argon2id verification
each, OWASP parameters). Then CLIENTS concurrent clients log in for WINDOW_S seconds, one account each.

Figures, each beside its baseline from the same run:
- logins per CPU-second of the auth process (utime+stime from /proc) against raw argon2id verifications per
  CPU-second of one core in this process (services.auth.hashing.PasswordHasher.verify, one at a time);
  target ratio >= 0.8;
- the latency of GET /healthz on auth, polled every PROBE_INTERVAL_S during the load (an event-loop stall
  in auth shows as a slow probe; target max 20 ms), beside the same probe on auth idle and on kyc, which
  stays idle (what the machine and this client add to a probe without any stall of auth).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.stats import Latency
from sekisho.launcher import LaunchedSystem
from sekisho.services import app_factory
from sekisho.sinks import SmsSink, SmtpSink
from services.auth.hashing import PasswordHasher

ACCOUNTS = 8
CLIENTS = min(ACCOUNTS, max(4, 2 * (os.cpu_count() or 1)))  # two logins in flight per core keep auth busy
WARMUP_S = 2.0
WINDOW_S = 10.0
RAW_S = 3.0
IDLE_PROBE_S = 3.0
PROBE_INTERVAL_S = 0.010
RATIO_TARGET = 0.8
STALL_TARGET_MS = 20.0
SMS_TIMEOUT_S = 15.0
USER_AGENT = "sekisho-bench/1.0"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class Account:
    email: str
    phone: str  # E.164, as the SMS provider sees it
    password: str
    device_id: str


# --- processes and CPU time ----------------------------------------------------------------------------------


def service_pid(system: LaunchedSystem, service: str) -> int:
    """The uvicorn process serving `service` of this system: its command line names the app and this port."""
    factory = app_factory(service)
    port = str(urlsplit(system.urls[service]).port)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        args = [a.decode(errors="replace") for a in argv]
        if factory in args and "--port" in args and args[args.index("--port") + 1 :][:1] == [port]:
            found.append(int(entry.name))
    if len(found) != 1:
        raise RuntimeError(f"expected one {service} process on port {port}, found {found}")
    return found[0]


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime so far of every thread of `pid` (the argon2id worker threads included), or of one thread:
    the main thread, which runs the event loop, is the thread whose id is `pid`."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of proc(5)


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine so far, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


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
    digits = f"{secrets.randbelow(10**7):07d}{i}"
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


@dataclass
class Window:
    """What happened between `start` and `end` (perf_counter): completed logins and their latencies."""

    start: float = float("inf")
    end: float = float("inf")
    logins: int = 0
    latencies: list[float] = field(default_factory=list)


async def _client(
    gateway: httpx.AsyncClient, account: Account, window: Window, stop: asyncio.Event, statuses: Counter[int]
) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        response = await login(gateway, account)
        finished = time.perf_counter()
        statuses[response.status_code] += 1
        if response.status_code != 200:
            raise RuntimeError(f"login answered {response.status_code}: {response.text[:300]}")
        if window.start <= started and finished <= window.end:
            window.logins += 1
            window.latencies.append(finished - started)


def _probe(url: str, stop: threading.Event, samples: list[float]) -> None:
    """GET `url` every PROBE_INTERVAL_S on one kept-alive connection, in its own thread: the probe's clock is
    not held up by this process's event loop serving the load clients."""
    with httpx.Client(timeout=10) as client:
        client.get(url).raise_for_status()  # connect first: only the request is timed
        while not stop.is_set():
            started = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
            stop.wait(PROBE_INTERVAL_S)


class Probes:
    def __init__(self, urls: dict[str, str]) -> None:
        self._stop = threading.Event()
        self.samples: dict[str, list[float]] = {name: [] for name in urls}
        self._threads = [
            threading.Thread(target=_probe, args=(url, self._stop, self.samples[name]), daemon=True)
            for name, url in urls.items()
        ]

    def __enter__(self) -> Probes:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def _stall(samples: list[float]) -> str:
    latency = Latency.of(samples)
    return (
        f"max {max(samples) * 1000:.2f} ms, p99 {latency.p99_ms:.2f} ms, p50 {latency.p50_ms:.2f} ms "
        f"(n={latency.count})"
    )


async def _measure(system: LaunchedSystem, sms: SmsSink) -> str:
    auth_pid, gateway_pid = service_pid(system, "auth"), service_pid(system, "gateway")
    limits = httpx.Limits(max_connections=CLIENTS + 2, max_keepalive_connections=CLIENTS + 2)
    async with httpx.AsyncClient(base_url=system.urls["gateway"], timeout=30, limits=limits) as gateway:
        accounts = await open_accounts(gateway, sms)

        raw_wall, raw_cpu = await raw_rate(accounts[0].password, parallel=1)
        cores = os.cpu_count() or 1
        par_wall, par_cpu = await raw_rate(accounts[0].password, parallel=cores)

        health = {service: system.urls[service] + "/healthz" for service in ("auth", "kyc")}
        with Probes(health) as idle:
            await asyncio.sleep(IDLE_PROBE_S)

        window = Window()
        stop = asyncio.Event()
        statuses: Counter[int] = Counter()
        with Probes(health) as loaded:
            clients = [
                asyncio.create_task(_client(gateway, accounts[i % len(accounts)], window, stop, statuses))
                for i in range(CLIENTS)
            ]
            await asyncio.sleep(WARMUP_S)
            for sample in loaded.samples.values():
                sample.clear()  # only probes made while the load is steady
            auth0, gateway0, self0 = cpu_seconds(auth_pid), cpu_seconds(gateway_pid), time.process_time()
            loop0 = cpu_seconds(auth_pid, auth_pid)
            busy0, _ = machine_busy_seconds()
            window.start = time.perf_counter()
            await asyncio.sleep(WINDOW_S)
            window.end = time.perf_counter()
            auth_cpu, gateway_cpu = cpu_seconds(auth_pid) - auth0, cpu_seconds(gateway_pid) - gateway0
            loop_cpu = cpu_seconds(auth_pid, auth_pid) - loop0
            self_cpu = time.process_time() - self0
            busy1, _ = machine_busy_seconds()
            stop.set()
            await asyncio.gather(*clients)
    elapsed = window.end - window.start
    per_second = window.logins / elapsed
    n = window.logins
    per_core_second = n / auth_cpu
    ratio = per_core_second / raw_cpu
    machine_cores = (busy1 - busy0) / elapsed
    other_cpu = (busy1 - busy0) - auth_cpu - gateway_cpu - self_cpu
    latency = Latency.of(window.latencies)
    auth_stall = max(loaded.samples["auth"]) * 1000
    assert set(statuses) == {200}, statuses  # a client raises on any other answer
    return (
        f"password logins through the gateway ({CLIENTS} clients, {ACCOUNTS} trusted devices, {elapsed:.1f} s): "
        f"{per_second:.1f} logins/s, all 200 (n={window.logins})\n"
        f"  login latency: p50 {latency.p50_ms:.1f} ms, p99 {latency.p99_ms:.1f} ms\n"
        f"  auth process: {auth_cpu:.2f} CPU-s = {auth_cpu / elapsed:.2f} cores busy -> "
        f"{per_core_second:.1f} logins per busy-core-second\n"
        f"  auth CPU per login: {auth_cpu / n * 1000:.1f} ms = event-loop thread {loop_cpu / n * 1000:.1f} ms "
        f"(HTTP, SQL, tokens) + worker threads {(auth_cpu - loop_cpu) / n * 1000:.1f} ms (argon2id); "
        f"baseline one raw verification {1000 / raw_cpu:.1f} ms\n"
        f"  baseline raw argon2id verify (PasswordHasher, one at a time, this process): {raw_wall:.1f}/s, "
        f"{raw_cpu:.1f} per CPU-second\n"
        f"  ratio logins per auth core-second / raw verifications per core-second: {ratio:.2f} "
        f"(target >= {RATIO_TARGET}: {'met' if ratio >= RATIO_TARGET else 'NOT met'})\n"
        f"  for reference, raw argon2id with {cores} at a time on {cores} CPUs: {par_wall:.1f}/s, "
        f"{par_cpu:.1f} per CPU-second\n"
        f"  machine busy {machine_cores:.2f} of {cores} cores during the load: auth {auth_cpu / elapsed:.2f}, "
        f"gateway {gateway_cpu / elapsed:.2f}, bench client {self_cpu / elapsed:.2f}, "
        f"the rest (PostgreSQL, other services, anything else running) {other_cpu / elapsed:.2f}\n"
        f"GET /healthz on auth during the load, every {PROBE_INTERVAL_S * 1000:.0f} ms: "
        f"{_stall(loaded.samples['auth'])} "
        f"(target max {STALL_TARGET_MS:.0f} ms: {'met' if auth_stall <= STALL_TARGET_MS else 'NOT met'})\n"
        f"  baseline, auth idle: {_stall(idle.samples['auth'])}\n"
        f"  baseline, kyc (idle, same machine) during the load: {_stall(loaded.samples['kyc'])}; "
        f"before it: {_stall(idle.samples['kyc'])}"
    )


def run(system: LaunchedSystem, secret: str, *, env: dict[str, str], sms: SmsSink, smtp: SmtpSink) -> str:
    return asyncio.run(_measure(system, sms))
