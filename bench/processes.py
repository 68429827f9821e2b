"""The service processes of a launched system and the CPU time they spend, read from /proc."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from sekisho.launcher import LaunchedSystem
from sekisho.services import app_factory

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
