"""`make bench`: every benchmark against one multi-process sekisho on PostgreSQL."""

from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path

from bench import gateway_forward
from bench.database import bench_database
from sekisho.launcher import launch

BENCHMARKS = {"gateway_forward": gateway_forward.run}


def main(selected: list[str]) -> int:
    chosen = selected or list(BENCHMARKS)
    secret = secrets.token_urlsafe(48)
    with bench_database() as url, tempfile.TemporaryDirectory() as workdir:
        env = {"SEKISHO_DATABASE_URL": url, "SEKISHO_INTERNAL_SECRET": secret, "SEKISHO_LOG_LEVEL": "WARNING"}
        with launch(Path(workdir), env) as system:
            for name in chosen:
                print(f"== {name}", flush=True)
                print(BENCHMARKS[name](system, secret), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
