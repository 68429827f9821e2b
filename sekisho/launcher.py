"""Starts a whole sekisho (`sekisho up`) on free ports as a child process: for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp

from shared.settings import SERVICE_NAMES

READY_LINE = b"sekisho is up"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class LaunchedSystem:
    process: subprocess.Popen[bytes]
    urls: dict[str, str]
    log_path: Path
    env: dict[str, str]  # the environment `sekisho up` runs with, for the command-line tool beside it
    data_dir: Path

    def identity_key(self, service: str) -> str:
        """The private identity key (PEM) `sekisho up` made for `service`: to call a service directly as another
        service would (benchmarks, end-to-end tests). Only when the launch did not set SEKISHO_IDENTITY_KEY."""
        return (self.data_dir / "dev-identity-keys" / f"{service}.pem").read_text()


def signed_in_staff(system: LaunchedSystem, login_id: str, role: str) -> str:
    """The access token of a staff member made with `sekisho staff create` and signed in through the gateway
    with password and TOTP (what an admin needs for the diagnostics trace, for instance)."""
    made = subprocess.run(
        [sys.executable, "-m", "sekisho.cli", "staff", "create", login_id, "--role", role, "--json"],
        env=system.env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    created = json.loads(made.stdout)
    gateway = system.urls["gateway"]
    first = httpx.post(
        gateway + "/v1/ops/auth/login",
        json={"login_id": created["login_id"], "password": created["password"]},
        timeout=10,
    )
    if first.status_code != 401:
        raise RuntimeError(f"staff sign-in did not ask for the TOTP code: {first.status_code} {first.text}")
    verified = httpx.post(
        gateway + first.json()["challenge"]["verify"],
        json={"method": "totp", "code": pyotp.TOTP(created["totp_secret"]).now()},
        timeout=10,
    )
    if verified.status_code != 200:
        raise RuntimeError(f"staff TOTP was refused: {verified.status_code} {verified.text}")
    token: str = verified.json()["access_token"]
    return token


@contextmanager
def launch(workdir: Path, env: Mapping[str, str], *, timeout: float = 90.0) -> Iterator[LaunchedSystem]:
    """Run `sekisho up` with `env` (SEKISHO_* from the caller's environment are dropped) until the block ends."""
    ports = free_ports(len(SERVICE_NAMES))
    urls = {service: f"http://127.0.0.1:{port}" for service, port in zip(SERVICE_NAMES, ports, strict=True)}
    child_env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    child_env.update({f"SEKISHO_{service.upper()}_URL": url for service, url in urls.items()})
    child_env.setdefault("SEKISHO_DATA_DIR", str(workdir / "var"))
    child_env.update(env)
    log_path = workdir / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sekisho.cli", "up"], env=child_env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + timeout
            while READY_LINE not in log_path.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sekisho up did not start:\n" + log_path.read_text(errors="replace")[-4000:])
                time.sleep(0.1)
            yield LaunchedSystem(process, urls, log_path, child_env, Path(child_env["SEKISHO_DATA_DIR"]))
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
