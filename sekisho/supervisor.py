"""`sekisho up`: every service as its own uvicorn process, stopped together and cleanly; or one service in the
foreground of this process (`sekisho up SERVICE`: what a container runs).

Children run in their own process group (a Ctrl-C reaches only the supervisor, which then stops each
child once, gracefully) and are asked by the kernel to stop if the supervisor itself dies, so that no
service outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import uvicorn

from sekisho.services import app_factory
from shared.logs import configure_logging

_PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 15.0
# Longer than the internal client keeps an idle connection (shared/internal_client.py, 30 s): with uvicorn's 5 s, a
# caller could send a request on a kept-alive connection just as the server closed it, and a POST is not repeated.
KEEP_ALIVE_SECONDS = 65
GRACEFUL_SHUTDOWN_SECONDS = 10


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
            "--host", host, "--port", str(port), "--no-access-log",
            "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS),
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


class _ForegroundServer(uvicorn.Server):
    """uvicorn's server, saying once on stdout that the service listens (as `sekisho up` does for a whole system)."""

    def __init__(self, config: uvicorn.Config, service: str) -> None:
        super().__init__(config)
        self.service = service

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the SIGTERM it shut down gracefully on, so that the process dies of it (exit 143): the
        # stop was asked for and went well, so this exits 0, as `sekisho up` of the whole system does.
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            config = self.config
            print(f"sekisho is up: {self.service} on {config.host}:{config.port}", flush=True)


def run_foreground(service: str, *, host: str, port: int, log_level: str, env: Mapping[str, str]) -> int:
    """One service in this process until SIGTERM or SIGINT, which uvicorn turns into a graceful shutdown: it stops
    accepting, lets requests in flight finish (GRACEFUL_SHUTDOWN_SECONDS at most), runs the app's shutdown (the
    outbox relay stops, the database pool closes) and returns 0. A container's main process: no child to outlive it,
    signals reach the server directly. The same uvicorn options as the whole system's children (start())."""
    os.environ.update(env)
    os.environ["SEKISHO_SERVICE"] = service
    # JSON lines on stdout from the first (uvicorn's own start-up lines too: it configures no logging of its own).
    configure_logging(service, log_level, "stdout")
    config = uvicorn.Config(
        app_factory(service),
        factory=True,
        host=host,
        port=port,
        access_log=False,  # shared.middleware logs each request with its request id
        proxy_headers=False,  # only SEKISHO_TRUSTED_PROXIES decides whom the gateway believes (client_ip.py)
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_config=None,
    )
    server = _ForegroundServer(config, service)
    server.run()
    return 0 if server.started else 1


def environment_for_children(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


__all__ = [
    "Child",
    "environment_for_children",
    "port_of",
    "run_foreground",
    "start",
    "stop",
    "supervise",
    "wait_until_healthy",
]
