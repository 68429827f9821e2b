"""The `sekisho` command: run, migrate and inspect the system. Later issues add their commands here."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from sekisho import supervisor
from sekisho.keys import add_commands as add_keys_commands
from sekisho.services import migrations_dir, settings_class
from shared.crypto import new_key_spec, parse_keys
from shared.database import Database, target_for
from shared.identity_keys import public_keys_json
from shared.migrations import upgrade
from shared.production import (
    DEV_AUTH_SIGNING_KEY_FILE,
    DEV_BLIND_INDEX_KEY_FILE,
    DEV_DATA_KEYS_FILE,
    DEV_IDENTITY_KEYS_DIR,
    ProductionRefused,
)
from shared.settings import SERVICE_NAMES, ServiceSettings, production_mode

if TYPE_CHECKING:
    from services.fraud.backtest import BacktestReport


def _services(names: Sequence[str] | None) -> list[str]:
    chosen = list(names or SERVICE_NAMES)
    unknown = [name for name in chosen if name not in SERVICE_NAMES]
    if unknown:
        raise SystemExit(f"sekisho: unknown service(s): {', '.join(unknown)} (known: {', '.join(SERVICE_NAMES)})")
    return chosen


async def _migrate(services: Sequence[str]) -> dict[str, str | None]:
    done: dict[str, str | None] = {}
    for service in services:
        settings: ServiceSettings = settings_class(service)()
        database = Database(target_for(settings, service), pool_size=1)
        try:
            done[service] = await upgrade(database, migrations_dir(service))
        finally:
            await database.dispose()
    return done


def cmd_migrate(args: argparse.Namespace) -> int:
    for service, revision in asyncio.run(_migrate(_services(args.services))).items():
        print(f"{service}: at {revision}")
    return 0


def dev_secret(data_dir: Path, name: str, make: Callable[[], str], variable: str) -> str:
    """A key of a local run, kept beside its SQLite files so that a restart can read what it wrote. Never in
    production (SEKISHO_ENV=prod): every key comes from the environment there."""
    if production_mode():
        raise SystemExit(f"sekisho: {variable} is not set, and SEKISHO_ENV=prod never generates a key")
    path = Path(data_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make())
        print(f"sekisho: made a development key in {path} (set {variable} in production)", file=sys.stderr)
    return path.read_text().strip()


def dev_data_keys(data_dir: Path) -> str:
    return dev_secret(data_dir, DEV_DATA_KEYS_FILE, lambda: new_key_spec("dev1"), "SEKISHO_DATA_KEYS")


def dev_blind_index_key(data_dir: Path) -> str:
    """The blind-index key of a local run, kept under the data dir. A data dir that already holds auth's database or
    dev data keys from before blind indexes had a key of their own keeps its indexes: its key is the old derivation
    from the first data key in use; a new data dir gets a random key. Call it before dev_data_keys() makes its file."""
    from shared.crypto import legacy_index_key_spec

    def make() -> str:
        if (Path(data_dir) / "auth.db").exists() or (Path(data_dir) / DEV_DATA_KEYS_FILE).exists():
            data_keys = os.environ.get("SEKISHO_DATA_KEYS") or dev_data_keys(data_dir)
            return legacy_index_key_spec(data_keys, next(iter(parse_keys(data_keys))))
        return new_key_spec("dev1")

    return dev_secret(data_dir, DEV_BLIND_INDEX_KEY_FILE, make, "SEKISHO_BLIND_INDEX_KEY")


def dev_identity_keys(data_dir: Path, services: Sequence[str] = SERVICE_NAMES) -> dict[str, str]:
    """Each service's own identity key (private PEM) of a local run, kept under the data dir like the other keys."""
    from shared.identity_keys import new_identity_key

    return {
        service: dev_secret(
            data_dir, f"{DEV_IDENTITY_KEYS_DIR}/{service}.pem", lambda: new_identity_key()[0], "SEKISHO_IDENTITY_KEY"
        )
        for service in services
    }


def _new_signing_pem() -> str:
    from shared.tokens import new_signing_key

    private_pem, _public_pem = new_signing_key()
    return private_pem


def cmd_keygen(args: argparse.Namespace) -> int:
    if args.legacy_blind_index is not None:
        from shared.crypto import legacy_index_key_spec

        data_keys = os.environ.get("SEKISHO_DATA_KEYS")
        if not data_keys:
            print("sekisho: set SEKISHO_DATA_KEYS to the data keys the database was made with", file=sys.stderr)
            return 1
        try:
            print(legacy_index_key_spec(data_keys, args.legacy_blind_index))
        except ValueError as exc:
            print(f"sekisho: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.identity is not None:
        return _keygen_identity(Path(args.identity), _services(args.service))
    if args.ed25519:
        return _keygen_token_key(args.kid)
    args.kid = "k1" if args.kid is None else args.kid
    if not args.kid.isalnum():
        print(f"sekisho: the key id must be letters and digits only, not {args.kid!r}", file=sys.stderr)
        return 1
    print(new_key_spec(args.kid))
    return 0


def _keygen_token_key(kid: str | None) -> int:
    """A new access-token key: on stdout its private PEM, the value of SEKISHO_AUTH_SIGNING_KEYS (alone, or before or
    after the keys in use for a rotation); on stderr its key id and public half, for the record."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shared.tokens import key_id, private_pem, public_jwk

    if kid is not None:
        print(
            "sekisho: an access-token key's id is its RFC 7638 thumbprint, computed from the key: --kid is not taken "
            "with --ed25519",
            file=sys.stderr,
        )
        return 1
    key = Ed25519PrivateKey.generate()
    print(private_pem(key), end="")
    print(f"sekisho: key id {key_id(key)}; public key (JWK) {json.dumps(public_jwk(key))}", file=sys.stderr)
    return 0


def _keygen_identity(directory: Path, services: Sequence[str]) -> int:
    """A new identity key per service in DIRECTORY/<service>.pem (never overwritten), and on stdout the
    SEKISHO_IDENTITY_PUBLIC_KEYS that lists their public keys."""
    from shared.identity_keys import new_identity_key, public_keys_json

    existing = [str(directory / f"{service}.pem") for service in services if (directory / f"{service}.pem").exists()]
    if existing:
        print(f"sekisho: will not overwrite {', '.join(existing)}", file=sys.stderr)
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    for service in services:
        path = directory / f"{service}.pem"
        path.touch(mode=0o600)
        path.write_text(made.setdefault(service, new_identity_key()[0]))
    print(public_keys_json(made))
    return 0


def production_refusals(services: Sequence[str]) -> list[str]:
    """SEKISHO_ENV=prod: each service's settings as its process would load them, and what is wrong with each (the
    development defaults production refuses, or a setting that does not parse). Empty when all would start."""
    refusals = []
    for service in services:
        try:
            settings_class(service)(service=service)
        except ValidationError as exc:
            refusals.extend(settings_errors(exc, f"sekisho: {service}"))
    return refusals


def settings_errors(exc: ValidationError, prefix: str = "sekisho") -> list[str]:
    """A settings error as lines for an operator: production's refusal whole, any other setting by its name."""
    lines = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ProductionRefused):
            lines.append(f"{prefix}: {cause}")
        else:
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            lines.append(f"{prefix}: {where}: {error['msg']}")
    return lines


def cmd_up(args: argparse.Namespace) -> int:
    services = _services(args.services)
    if production_mode():
        # Production generates nothing: every key comes from the environment, checked before anything listens.
        refusals = production_refusals(services)
        if refusals:
            print("\n".join(refusals), file=sys.stderr)
            return 2
        if len(services) > 1:
            print("sekisho: in production start one service per process: `sekisho up SERVICE`", file=sys.stderr)
            return 2
        return _up(args, services, {}, {})
    overrides: dict[str, str] = {}
    data_dir = ServiceSettings().data_dir
    # Each service signs its calls with a key of its own, which only its process gets (SEC-1).
    service_env: dict[str, dict[str, str]] = {}
    if not os.environ.get("SEKISHO_IDENTITY_KEY"):
        keys = dev_identity_keys(data_dir)
        service_env = {service: {"SEKISHO_IDENTITY_KEY": keys[service]} for service in services}
        if not os.environ.get("SEKISHO_IDENTITY_PUBLIC_KEYS"):
            overrides["SEKISHO_IDENTITY_PUBLIC_KEYS"] = public_keys_json(keys)
    elif len(services) > 1:
        print(
            "sekisho: SEKISHO_IDENTITY_KEY is one service's own key; start that service alone, or unset it to run "
            "several with the dev keys under the data dir",
            file=sys.stderr,
        )
        return 2
    if not os.environ.get("SEKISHO_BLIND_INDEX_KEY"):
        overrides["SEKISHO_BLIND_INDEX_KEY"] = dev_blind_index_key(data_dir)  # before the data keys: see there
    if not os.environ.get("SEKISHO_DATA_KEYS"):
        overrides["SEKISHO_DATA_KEYS"] = dev_data_keys(data_dir)
    if not os.environ.get("SEKISHO_AUTH_SIGNING_KEY") and not os.environ.get("SEKISHO_AUTH_SIGNING_KEYS"):
        overrides["SEKISHO_AUTH_SIGNING_KEY"] = dev_secret(
            data_dir, DEV_AUTH_SIGNING_KEY_FILE, _new_signing_pem, "SEKISHO_AUTH_SIGNING_KEY"
        )
    return _up(args, services, overrides, service_env)


def _up(
    args: argparse.Namespace, services: Sequence[str], overrides: dict[str, str], service_env: dict[str, dict[str, str]]
) -> int:
    env = supervisor.environment_for_children(os.environ, overrides)
    os.environ.update(overrides)
    settings = ServiceSettings()
    if len(services) > 1 and settings.port is not None:
        print(
            "sekisho: SEKISHO_PORT is one service's port; start that service alone (`sekisho up SERVICE`)",
            file=sys.stderr,
        )
        return 2
    if _should_migrate(args):
        cmd_migrate(argparse.Namespace(services=services))
    if len(services) == 1:
        # A container's process: this one service in the foreground, its JSON log lines on stdout.
        (service,) = services
        env.setdefault("SEKISHO_LOG_STREAM", "stdout")
        port = settings.port or supervisor.port_of(settings.service_url(service))
        return supervisor.run_foreground(
            service,
            host=settings.host,
            port=port,
            log_level=settings.log_level,
            env={**env, **service_env.get(service, {})},
        )
    urls = {service: settings.service_url(service) for service in SERVICE_NAMES}
    children = supervisor.start(services, host=settings.host, urls=urls, env=env, service_env=service_env)
    late = supervisor.wait_until_healthy(children, settings.host)
    if late:
        print(f"sekisho: {', '.join(late)} did not start; stopping all", file=sys.stderr)
        supervisor.stop(children)
        return 1
    print(
        f"sekisho is up: gateway {settings.service_url('gateway')} ({len(children)} services; Ctrl-C stops all)",
        flush=True,
    )
    return supervisor.supervise(children)


def _should_migrate(args: argparse.Namespace) -> bool:
    """Production migrates only when asked (`--migrate`): its schema changes are the migrate Job's (deploy/jobs), run
    once before a rollout, never each replica's start. A local run migrates unless told not to (`--no-migrate`)."""
    if args.migrate:
        return True
    return not args.no_migrate and not production_mode()


def cmd_status(args: argparse.Namespace) -> int:
    settings = ServiceSettings()
    ready = True
    rows = {}
    for service in _services(args.services):
        url = settings.service_url(service) + "/readyz"
        try:
            response = httpx.get(url, timeout=3)
        except httpx.TransportError as exc:
            rows[service] = {"status": "unreachable", "detail": str(exc) or type(exc).__name__}
            ready = False
            continue
        rows[service] = response.json()
        ready = ready and response.status_code == 200
    print(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0 if ready else 1


def cmd_mailbox(args: argparse.Namespace) -> int:
    from sekisho.mailbox import format_message, read_mailbox
    from services.notify.settings import NotifySettings

    settings = NotifySettings()
    keys_spec = os.environ.get("SEKISHO_DATA_KEYS") or dev_data_keys(settings.data_dir)
    messages = asyncio.run(read_mailbox(settings, parse_keys(keys_spec), to=args.to, limit=args.limit))
    if not messages:
        print("the dev mailbox is empty")
    for message in reversed(messages):
        print(format_message(message))
    return 0


def cmd_staff_create(args: argparse.Namespace) -> int:
    from sekisho.staff import create
    from services.auth.settings import AuthSettings

    settings = AuthSettings()
    keys_spec = os.environ.get("SEKISHO_DATA_KEYS") or dev_data_keys(settings.data_dir)
    try:
        created = asyncio.run(
            create(settings, keys_spec, login_id=args.name, role=args.role, outsourced=args.outsourced)
        )
    except IntegrityError:
        print(f"sekisho: staff {args.name!r} exists already", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(created))
    else:
        print(
            f"login id:    {created['login_id']}\n"
            f"password:    {created['password']}\n"
            f"TOTP secret: {created['totp_secret']}"
        )
        print("Hand these over once, in person; they are not shown again.")
    return 0


def cmd_staff_unlock(args: argparse.Namespace) -> int:
    from sekisho.staff import unlock
    from services.auth.settings import AuthSettings

    if not asyncio.run(unlock(AuthSettings(), login_id=args.name)):
        print(f"sekisho: no staff {args.name!r}", file=sys.stderr)
        return 1
    print(f"staff {args.name!r} unlocked")
    return 0


def cmd_staff_disable(args: argparse.Namespace) -> int:
    from sekisho.staff import disable
    from services.auth.settings import AuthSettings

    ended = asyncio.run(disable(AuthSettings(), login_id=args.name))
    if ended is None:
        print(f"sekisho: no staff {args.name!r}", file=sys.stderr)
        return 1
    print(f"staff {args.name!r} disabled; {ended} session(s) ended")
    return 0


async def _partner_command(args: argparse.Namespace, keys_spec: str) -> dict[str, object]:
    from datetime import timedelta

    from services.gateway import partners
    from services.gateway.settings import GatewaySettings
    from shared.clock import SystemClock
    from shared.crypto import FieldCipher
    from shared.migrations import head_revision

    database = Database(target_for(GatewaySettings(), "gateway"), pool_size=1)
    result: dict[str, object] = {}
    try:
        if await database.revision() != head_revision(migrations_dir("gateway")):
            raise LookupError("the gateway database is not migrated: run `sekisho migrate gateway` first")
        cipher, now = FieldCipher(parse_keys(keys_spec)), SystemClock().now()
        async with database.transaction() as session:
            if args.partner_command == "create":
                result.update(
                    await partners.create_partner(
                        session, name=args.name, allowed_cidrs=args.allow, cipher=cipher, now=now
                    )
                )
            elif args.partner_command == "rotate":
                overlap = timedelta(hours=args.overlap_hours)
                result.update(
                    await partners.rotate_partner_key(session, name=args.name, overlap=overlap, cipher=cipher, now=now)
                )
            else:
                revoked = await partners.revoke_partner(session, name=args.name, key_id=args.key, now=now)
                result.update(partner=args.name, revoked_key_ids=revoked, partner_disabled=args.key is None)
    finally:
        await database.dispose()
    return result


def cmd_partner(args: argparse.Namespace) -> int:
    """`sekisho partner create|rotate|revoke`: partner ATM networks' HMAC keys, in the gateway's database."""
    from services.gateway.settings import GatewaySettings
    from shared.problems import Problem

    keys_spec = os.environ.get("SEKISHO_DATA_KEYS") or dev_data_keys(GatewaySettings().data_dir)
    try:
        result = asyncio.run(_partner_command(args, keys_spec))
    except (LookupError, Problem, ValueError) as exc:
        print(f"sekisho: {exc}", file=sys.stderr)
        return 1
    except IntegrityError:
        print(f"sekisho: partner {args.name!r} exists already", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    elif args.partner_command == "revoke":
        revoked = result["revoked_key_ids"]
        print(f"revoked: {', '.join(revoked) if isinstance(revoked, list) and revoked else 'no active key'}")
        if result["partner_disabled"]:
            print(f"partner {args.name!r} is disabled")
    else:
        print(f"partner id: {result['partner_id']}\nkey id:     {result['key_id']}\nsecret:     {result['secret']}")
        if "old_keys_expire_at" in result:
            print(f"the previous keys stay valid until {result['old_keys_expire_at']}")
        print("Hand the secret over once, over a secure channel; it is not shown again.")
    return 0


class ProgressBar:
    """`[#####.....] 12,345/50,000 events  1,234/s` on one line of stderr, redrawn with \\r (10 times a second)."""

    WIDTH = 20

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._started = time.monotonic()
        self._drawn_at: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and self._drawn_at is not None and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        filled = round(min(done / total, 1.0) * self.WIDTH) if total else self.WIDTH
        rate = done / (now - self._started) if now > self._started else 0.0
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r[{bar}] {done:,}/{total:,} events  {rate:,.0f}/s")
        self._stream.flush()

    def close(self) -> None:
        if self._drawn_at is not None:
            self._stream.write("\n")
            self._stream.flush()


def _aware_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone (end it with Z or +09:00)")
    return moment


async def _fraud_backtest(args: argparse.Namespace, progress: Callable[[int, int], None]) -> BacktestReport:
    from services.fraud.backtest import backtest_version
    from services.fraud.settings import FraudSettings

    database = Database(target_for(FraudSettings(), "fraud"), pool_size=2)
    try:
        if await database.revision() is None:
            raise LookupError("the fraud database has no tables: run `sekisho migrate fraud` first")
        return await backtest_version(
            database.reading, version=args.version, since=args.since, until=args.until, progress=progress
        )
    finally:
        await database.dispose()


def cmd_fraud_backtest(args: argparse.Namespace) -> int:
    from shared.problems import Problem

    bar = ProgressBar(sys.stderr)
    try:
        report = asyncio.run(_fraud_backtest(args, bar))
    except (LookupError, Problem) as exc:
        bar.close()
        print(f"sekisho: {exc}", file=sys.stderr)
        return 1
    bar.close()
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if args.json else report.to_text())
    return 0


def cmd_books_check(args: argparse.Namespace) -> int:
    """`sekisho books check`: exit 0 when the books balance, 1 (with each problem) when they do not."""
    from sekisho.books import check
    from services.txn.settings import TxnSettings

    try:
        report = asyncio.run(check(TxnSettings()))
    except LookupError as exc:
        print(f"sekisho: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if args.json else report.to_text())
    return 0 if report.balanced else 1


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """`sekisho audit verify`: exit 0 with the count when the chain holds, 1 naming the first bad entry and why."""
    from sekisho.audit import verify_trail
    from services.auth.settings import AuthSettings

    # SEKISHO_AUDIT_CHAIN_KEY as auth has it; unset outside production, the development key (AuthSettings).
    verdict = asyncio.run(verify_trail(AuthSettings()))
    if verdict.intact:
        print(f"audit trail intact: {verdict.count} entries")
        return 0
    print(f"audit trail broken at seq {verdict.broken_at}: {verdict.reason}", file=sys.stderr)
    return 1


def cmd_links_review(args: argparse.Namespace) -> int:
    """`sekisho links review`: suspend links made under weaker rules than today's, telling their owners (INC-9);
    progress on stderr; run again, it continues a run that was stopped."""
    from sekisho.links import ReviewProgress, review
    from services.txn.settings import TxnSettings
    from shared.problems import Problem

    data_dir = ServiceSettings().data_dir
    if not os.environ.get("SEKISHO_IDENTITY_KEY"):  # a local run: txn's dev key, as `sekisho up` gave it
        keys = dev_identity_keys(data_dir)
        os.environ.setdefault("SEKISHO_IDENTITY_PUBLIC_KEYS", public_keys_json(keys))
        os.environ["SEKISHO_IDENTITY_KEY"] = keys["txn"]
    if not os.environ.get("SEKISHO_DATA_KEYS"):
        os.environ["SEKISHO_BLIND_INDEX_KEY"] = os.environ.get("SEKISHO_BLIND_INDEX_KEY") or dev_blind_index_key(
            data_dir
        )
        os.environ["SEKISHO_DATA_KEYS"] = dev_data_keys(data_dir)
    try:
        report = asyncio.run(
            review(TxnSettings(), batch=args.batch, dry_run=args.dry_run, progress=ReviewProgress(sys.stderr))
        )
    except (LookupError, Problem) as exc:
        print(f"sekisho: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    """`sekisho openapi`: the gateway's public OpenAPI document, generated from the services' own models."""
    from sekisho.openapi import DOCUMENT, write

    out = write(Path(args.out) if args.out else DOCUMENT)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sekisho", description="sekisho: authentication and fraud gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up",
        help="run every service as its own process until Ctrl-C / SIGTERM; one SERVICE: in the foreground",
    )
    up.add_argument("services", nargs="*", help="only these services (default: all); one: in this process (a pod)")
    migration = up.add_mutually_exclusive_group()
    migration.add_argument("--no-migrate", action="store_true", help="skip migrations (the default in production)")
    migration.add_argument("--migrate", action="store_true", help="migrate first, in production too")
    up.set_defaults(func=cmd_up)

    migrate = commands.add_parser("migrate", help="bring each service's database to the latest revision")
    migrate.add_argument("services", nargs="*")
    migrate.set_defaults(func=cmd_migrate)

    status = commands.add_parser("status", help="each service's /readyz (exit 1 unless all are ready)")
    status.add_argument("services", nargs="*")
    status.set_defaults(func=cmd_status)
    mailbox = commands.add_parser("mailbox", help="messages a local run sent to its dev mailbox (no SMTP/SMS set)")
    mailbox.add_argument("--to", help="only messages to this email address or phone number")
    mailbox.add_argument("--limit", type=int, default=20, help="the newest N (default 20)")
    mailbox.set_defaults(func=cmd_mailbox)

    staff = commands.add_parser("staff", help="staff identities")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    staff_create = staff_commands.add_parser("create", help="a staff identity with a password and a TOTP secret")
    staff_create.add_argument("name", help="the login id")
    staff_create.add_argument("--role", required=True, choices=["analyst", "supervisor", "admin"])
    staff_create.add_argument(
        "--outsourced",
        action="store_true",
        help="an outsourced operator (DATA-4): never full values, indicator exports or the audit trail, whatever the "
        "role; their audit entries are marked",
    )
    staff_create.add_argument("--json", action="store_true", help='print {"login_id", "password", "totp_secret"}')
    staff_create.set_defaults(func=cmd_staff_create)
    staff_unlock = staff_commands.add_parser("unlock", help="lift a staff member's lock (when no admin can sign in)")
    staff_unlock.add_argument("name", help="the login id")
    staff_unlock.set_defaults(func=cmd_staff_unlock)
    staff_disable = staff_commands.add_parser("disable", help="a staff member who may no longer sign in: sessions end")
    staff_disable.add_argument("name", help="the login id")
    staff_disable.set_defaults(func=cmd_staff_disable)

    partner = commands.add_parser("partner", help="partner ATM networks and their signing keys (RFC 9421)")
    partner_commands = partner.add_subparsers(dest="partner_command", required=True)
    partner_create = partner_commands.add_parser("create", help="a partner and its first HMAC key")
    partner_create.add_argument("name", help="the partner's name")
    partner_create.add_argument(
        "--allow", action="append", metavar="CIDR", help="only from this network (repeat for more; default: any)"
    )
    partner_create.add_argument("--json", action="store_true", help='print {"partner_id", "key_id", "secret"}')
    partner_rotate = partner_commands.add_parser("rotate", help="a new key; the old ones expire after the overlap")
    partner_rotate.add_argument("name")
    partner_rotate.add_argument("--overlap-hours", type=float, default=24.0, help="how long old keys stay valid")
    partner_rotate.add_argument("--json", action="store_true", help='print {"partner_id", "key_id", "secret", …}')
    partner_revoke = partner_commands.add_parser("revoke", help="revoke one key, or all keys and disable the partner")
    partner_revoke.add_argument("name")
    partner_revoke.add_argument("--key", metavar="KEY_ID", help="only this key (default: every key)")
    partner_revoke.add_argument("--json", action="store_true")
    partner.set_defaults(func=cmd_partner)

    keygen = commands.add_parser(
        "keygen",
        help="print a new AES-256 data key for SEKISHO_DATA_KEYS or access-token key, or make the services' identity "
        "keys",
    )
    keygen.add_argument(
        "--kid",
        help="its key id (alphanumeric, default k1; one not in SEKISHO_DATA_KEYS yet, to put first for a rotation: "
        "README)",
    )
    keygen.add_argument(
        "--ed25519",
        action="store_true",
        help="instead: a new Ed25519 access-token key (PEM) for SEKISHO_AUTH_SIGNING_KEYS; its key id (RFC 7638 "
        "thumbprint) and public JWK on stderr",
    )
    keygen.add_argument(
        "--identity",
        metavar="DIR",
        help="instead: a new Ed25519 identity key per service in DIR/<service>.pem (for SEKISHO_IDENTITY_KEY); "
        "prints SEKISHO_IDENTITY_PUBLIC_KEYS",
    )
    keygen.add_argument(
        "--service", action="append", choices=SERVICE_NAMES, help="with --identity: only this service (repeatable)"
    )
    keygen.add_argument(
        "--legacy-blind-index",
        metavar="KID",
        help="instead: the SEKISHO_BLIND_INDEX_KEY that keeps the blind indexes of a database made before that "
        "setting existed (derived from data key KID of SEKISHO_DATA_KEYS, the one that was first)",
    )
    keygen.set_defaults(func=cmd_keygen)
    add_keys_commands(commands)

    fraud = commands.add_parser("fraud", help="fraud detection")
    fraud_commands = fraud.add_subparsers(dest="fraud_command", required=True)
    backtest = fraud_commands.add_parser(
        "backtest", help="replay stored events with a rule-set version and compare with resolved cases' labels"
    )
    backtest.add_argument("--version", type=int, required=True, help="the rule-set version (draft, live or retired)")
    backtest.add_argument("--since", type=_aware_time, required=True, help="ISO 8601 with a zone, inclusive")
    backtest.add_argument("--until", type=_aware_time, required=True, help="ISO 8601 with a zone, exclusive")
    backtest.add_argument("--json", action="store_true", help="print the report as JSON")
    backtest.set_defaults(func=cmd_fraud_backtest)

    books = commands.add_parser("books", help="the ledger")
    books_commands = books.add_subparsers(dest="books_command", required=True)
    books_check = books_commands.add_parser("check", help="prove the books balance (exit 1 with each problem if not)")
    books_check.add_argument("--json", action="store_true", help="print the report as JSON")
    books_check.set_defaults(func=cmd_books_check)

    audit = commands.add_parser("audit", help="the staff audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_verify = audit_commands.add_parser(
        "verify", help="walk the hash chain: exit 1 naming the first changed, removed or reordered entry"
    )
    audit_verify.set_defaults(func=cmd_audit_verify)

    links = commands.add_parser("links", help="bank links")
    links_commands = links.add_subparsers(dest="links_command", required=True)
    links_review = links_commands.add_parser(
        "review", help="suspend links made under weaker rules than today's and tell their owners (INC-9)"
    )
    links_review.add_argument("--batch", type=int, default=100, help="links per transaction (default 100)")
    links_review.add_argument("--dry-run", action="store_true", help="only list the links a review would suspend")
    links_review.set_defaults(func=cmd_links_review)

    openapi = commands.add_parser(
        "openapi", help="write the gateway's public OpenAPI document (default: the one it serves, in the source)"
    )
    openapi.add_argument("--out", help="write it to this file instead of services/gateway/openapi.json")
    openapi.set_defaults(func=cmd_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ValidationError as exc:  # settings that do not load (production's refusal among them): no traceback
        print("\n".join(settings_errors(exc)), file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
