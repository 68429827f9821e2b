"""`sekisho up`: every service as its own uvicorn process, stopped together and cleanly.

Children run in their own process group (a Ctrl-C reaches only the supervisor, which then stops each
child once, gracefully) and are asked by the kernel to stop if the supervisor itself dies, so that no
service outlives it.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from sekisho.services import app_factory

_PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 15.0
# Longer than the internal client keeps an idle connection (shared/internal_client.py, 30 s): with uvicorn's 5 s, a
# caller could send a request on a kept-alive connection just as the server closed it, and a POST is not repeated.
KEEP_ALIVE_SECONDS = 65


@dataclass
class Child:
    service: str
    port: int
    process: subprocess.Popen[bytes]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_of(url: str) -> int:
    parts = urlsplit(url)
    if parts.port is not None:
        return parts.port
    return 443 if parts.scheme == "https" else 80


def start(
    services: Sequence[str],
    *,
    host: str,
    urls: Mapping[str, str],
    env: Mapping[str, str],
    service_env: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Child]:
    """`service_env`: what only one service's process gets (its own identity key), beside the common `env`."""
    children = []
    for service in services:
        port = port_of(urls[service])
        # --no-proxy-headers: uvicorn would otherwise rewrite the client address and scheme from X-Forwarded-*
        # of any loopback peer; only SEKISHO_TRUSTED_PROXIES decides whom the gateway believes (client_ip.py).
        command = [
            sys.executable, "-m", "uvicorn", "--factory", app_factory(service),
            "--host", host, "--port", str(port), "--no-access-log", "--timeout-graceful-shutdown", "10",
            "--timeout-keep-alive", str(KEEP_ALIVE_SECONDS),
            "--no-proxy-headers",
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            env={**env, **(service_env or {}).get(service, {}), "SEKISHO_SERVICE": service},
            process_group=0,
            preexec_fn=_die_with_parent,
        )
        children.append(Child(service, port, process))
    return children


def wait_until_healthy(children: Sequence[Child], host: str, timeout: float = 60.0) -> list[str]:
    """The services that did not answer /healthz in time (empty when all are up)."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 - listening everywhere; probe over loopback
        host = "127.0.0.1"
    deadline = time.monotonic() + timeout
    pending = {child.service: child for child in children}
    while pending and time.monotonic() < deadline:
        for service, child in list(pending.items()):
            if child.process.poll() is not None:
                return [service]
            try:
                if httpx.get(f"http://{host}:{child.port}/healthz", timeout=1).status_code == 200:
                    del pending[service]
            except httpx.TransportError:
                pass  # not listening yet
        time.sleep(0.1)
    return sorted(pending)


def stop(children: Sequence[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def supervise(children: Sequence[Child]) -> int:
    """Run until SIGINT/SIGTERM (exit 0) or until a service dies on its own (exit 1); stop all either way."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            dead = [child for child in children if child.process.poll() is not None]
            if dead:
                for child in dead:
                    print(
                        f"sekisho: {child.service} exited with {child.process.returncode}; stopping all",
                        file=sys.stderr,
                    )
                return 1
            time.sleep(0.2)
        return 0
    finally:
        stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("sekisho: all services stopped", file=sys.stderr)


def environment_for_children(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


__all__ = ["Child", "environment_for_children", "port_of", "start", "stop", "supervise", "wait_until_healthy"]
