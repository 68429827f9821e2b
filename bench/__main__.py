"""`make bench`: every benchmark against one multi-process sekisho on PostgreSQL."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench import (
    atm_authorize,
    auth_login,
    fraud_score,
    gateway_forward,
    http_clients,
    notify_latency,
    signature_verify,
)
from bench.database import bench_database
from sekisho.launcher import launch
from sekisho.sinks import SmsSink, SmtpSink
from shared.crypto import new_key_spec

NAMES = (
    "gateway_forward",
    "http_clients",
    "signature_verify",
    "notify_latency",
    "auth_login",
    "fraud_score",
    "atm_authorize",
)


def main(selected: list[str]) -> int:
    chosen = selected or list(NAMES)
    unknown = [name for name in chosen if name not in NAMES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(NAMES)}", file=sys.stderr)
        return 2
    smtp, sms = SmtpSink().start(), SmsSink().start()
    try:
        with bench_database() as url, tempfile.TemporaryDirectory() as workdir:
            env = {
                "SEKISHO_DATABASE_URL": url,
                "SEKISHO_DATA_KEYS": new_key_spec("bench"),
                "SEKISHO_LOG_LEVEL": "WARNING",
                "SEKISHO_SMTP_HOST": "127.0.0.1",
                "SEKISHO_SMTP_PORT": str(smtp.port),
                "SEKISHO_SMS_URL": sms.url,
                # One client machine plays every customer from 127.0.0.1: the per-IP limits would stop it.
                "SEKISHO_RATE_LIMITS": "[]",
                "SEKISHO_DIAGNOSTICS": "true",  # gateway_forward measures the gateway on the trace route
            }
            with launch(Path(workdir), env) as system:
                for name in chosen:
                    print(f"== {name}", flush=True)
                    if name == "gateway_forward":
                        print(gateway_forward.run(system), flush=True)
                    elif name == "http_clients":
                        print(http_clients.run(system), flush=True)
                    elif name == "signature_verify":
                        print(signature_verify.run(), flush=True)
                    elif name == "fraud_score":
                        print(fraud_score.run(system, url=url), flush=True)
                    elif name == "atm_authorize":
                        print(atm_authorize.run(system, sms=sms), flush=True)
                    elif name == "auth_login":
                        print(auth_login.run(system, env=env, sms=sms, smtp=smtp), flush=True)
                    else:
                        print(notify_latency.run(system, env=env, sms=sms, smtp=smtp), flush=True)
    finally:
        smtp.stop()
        sms.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
