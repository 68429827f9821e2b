"""`sekisho migrate` brings every service's own database to its head revision."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sekisho.services import migrations_dir
from shared.migrations import head_revision
from shared.settings import SERVICE_NAMES


def test_migrate_creates_one_database_per_service_and_reports_each_revision(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env["SEKISHO_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "sekisho.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    heads = [head_revision(migrations_dir(service)) for service in SERVICE_NAMES]
    assert result.stdout.splitlines() == [
        f"{service}: at {head}" for service, head in zip(SERVICE_NAMES, heads, strict=True)
    ]
    assert sorted(p.name for p in tmp_path.glob("*.db")) == sorted(f"{s}.db" for s in SERVICE_NAMES)


def test_an_unknown_service_is_refused_with_the_known_names(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sekisho.cli", "migrate", "bank"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "unknown service(s): bank" in result.stderr
    assert "gateway" in result.stderr
