"""With neither SMTP nor SMS configured, messages go to a dev mailbox that `sekisho mailbox` lists."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from services.notify.app import create_app
from shared.contracts.notifications import EventType
from tests.harness import TEST_DATA_KEYS, client_for, migrate, new_backend, running
from tests.notify.conftest import identity_for
from tests.notify.test_delivery import request_for, wait_sent


async def test_sekisho_mailbox_lists_what_a_local_run_sent(tmp_path: Path) -> None:
    backend = new_backend("sqlite", tmp_path, None)  # the dev mailbox belongs to the embedded mode
    await migrate(backend, "notify")
    app = create_app(backend.settings("notify", delivery_poll_seconds=0.05))  # type: ignore[arg-type]
    async with running(app), client_for(app) as notify:
        notify.headers.update(identity_for())
        response = await notify.post("/internal/notifications", json=request_for(EventType.ONE_TIME_CODE, "en"))
        assert response.status_code == 201
        await wait_sent(notify, response.json()["id"])
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env.update(SEKISHO_DATA_DIR=str(backend.data_dir), SEKISHO_DATA_KEYS=TEST_DATA_KEYS)
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "sekisho.cli", "mailbox", "--to", "+819012345678"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sms · to +819012345678" in result.stdout
    assert "482913" in result.stdout
