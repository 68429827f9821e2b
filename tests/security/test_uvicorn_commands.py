"""Wherever sekisho starts uvicorn, uvicorn's own proxy-header handling is off: it would otherwise believe the
X-Forwarded-For / X-Forwarded-Proto of any loopback peer (FORWARDED_ALLOW_IPS defaults to 127.0.0.1) and rewrite
the client address and scheme before SEKISHO_TRUSTED_PROXIES is consulted (issue 13, item 1;
test_forged_client_ip.py performs the attack)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from sekisho import supervisor

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_sekisho_up_starts_every_service_without_uvicorns_proxy_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []

    def record(command: list[str], **_: Any) -> subprocess.Popen[bytes]:
        started.append(command)
        return None  # type: ignore[return-value]

    monkeypatch.setattr(supervisor.subprocess, "Popen", record)
    services = ("gateway", "auth", "kyc", "txn", "fraud", "notify")
    urls = {service: f"http://127.0.0.1:{8000 + n}" for n, service in enumerate(services)}
    supervisor.start(services, host="127.0.0.1", urls=urls, env={})
    assert len(started) == len(services)
    for command in started:
        assert "uvicorn" in command
        assert "--no-proxy-headers" in command, command


def test_sekisho_up_of_one_service_runs_uvicorn_without_its_proxy_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sekisho up SERVICE` (what every Deployment runs) serves in its own process: its uvicorn config, not a command
    line, must have proxy headers off."""
    configs: list[uvicorn.Config] = []

    def record(server: uvicorn.Server) -> None:
        configs.append(server.config)

    monkeypatch.setattr(uvicorn.Server, "run", record)
    monkeypatch.setattr(supervisor.os, "environ", {})  # run_foreground sets the service's environment
    supervisor.run_foreground("gateway", host="127.0.0.1", port=8000, log_level="INFO", env={})
    (config,) = configs
    assert config.proxy_headers is False
    assert (config.host, config.port, config.factory) == ("127.0.0.1", 8000, True)


def test_every_deployment_starts_sekisho_up_never_a_uvicorn_of_its_own() -> None:
    manifests = [path for path in sorted((DEPLOY / "base").glob("*.yaml")) if "kind: Deployment" in path.read_text()]
    assert len(manifests) == 6  # one per component
    for path in manifests:
        commands = [line.strip() for line in path.read_text().splitlines() if line.strip().startswith("command:")]
        assert len(commands) == 1, path
        assert commands[0].startswith('command: ["sekisho", "up", "'), path
        assert "uvicorn" not in commands[0], path
