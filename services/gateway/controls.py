"""Run-time controls at the gateway: kill switches (INC-1, LINK-4), IP rules (SEC-4) and rate limits (SEC-3).

Switches and rules live in the gateway's database and in each replica's memory: a background task reloads
them every `controls_refresh_seconds` (1 s) and the replica that changes one applies it at once, so a
change holds on every replica within about a second (issue 6 asks for 2 s). Kill switches keep their
state in `kill_switch` (one small table, cheap to reload each second) and every change in the
append-only `kill_switch_change`; IP rules are never deleted, only marked removed. Rate-limit counters
(rate_limits.py) are pruned by the same background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.gateway.client_ip import Network
from services.gateway.clients import FraudClient, FraudUnavailable
from services.gateway.models import ip_rule, kill_switch, kill_switch_change
from services.gateway.rate_limits import RateLimiter
from services.gateway.routes import Route
from shared.clock import Clock
from shared.database import Database, on_commit
from shared.ids import new_id
from shared.problems import Problem

log = logging.getLogger("sekisho.gateway.controls")

ROUTE_CLASSES = ("customer", "partner", "ops")
RULE_KINDS = ("allow", "deny")
ALL_PARTNERS = ""


class OperationSuspended(Problem):
    status = 503
    code = "operation_suspended"


class IpDenied(Problem):
    status = 403
    code = "ip_denied"


def route_class_of(route: Route, path: str) -> str:
    if route.caller == "staff" or path.startswith("/v1/ops/"):
        return "ops"
    if path.startswith("/v1/atm/"):
        return "partner"
    return "customer"


def parse_cidr(text: str) -> Network:
    """A network from `203.0.113.0/24` or a single address; host bits set is a mistake, not a rounding."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise Problem(
            "The request has 1 invalid field(s).",
            code="validation_failed",
            status=422,
            violations=[{"field": "cidr", "code": "invalid_cidr", "message": str(exc)}],
        ) from exc


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# ---- kill switches ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillSwitch:
    operation: str
    partner_id: str
    active: bool
    reason: str
    set_by: str
    set_at: datetime

    def view(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "partner_id": self.partner_id or None,
            "active": self.active,
            "reason": self.reason,
            "set_by": self.set_by,
            "set_at": self.set_at.isoformat(),
        }


def check_switchable(operation: str, known_operations: Iterable[str]) -> None:
    if operation not in set(known_operations):
        raise Problem(f"{operation!r} is not an operation type of the gateway.", code="unknown_operation", status=422)
    if operation.startswith("ops_"):
        # Staff routes stay up whatever happens: otherwise one switch could lock every admin out for good.
        raise Problem("Staff operations cannot be switched off.", code="operation_not_switchable", status=422)


# ---- IP rules -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IpRule:
    id: str
    route_class: str
    kind: str
    network: Network
    note: str
    created_by: str
    created_at: datetime

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "route_class": self.route_class,
            "kind": self.kind,
            "cidr": str(self.network),
            "note": self.note,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class IpRuleSet:
    """Deny wins; where a class has any allow rule, only the addresses it allows get in."""

    def __init__(self, rules: Iterable[IpRule], fraud_denied: Sequence[Network] = ()) -> None:
        self.rules = tuple(rules)
        self._deny: dict[str, list[Network]] = {name: [] for name in ROUTE_CLASSES}
        self._allow: dict[str, list[Network]] = {name: [] for name in ROUTE_CLASSES}
        for rule in self.rules:
            (self._deny if rule.kind == "deny" else self._allow)[rule.route_class].append(rule.network)
        # Fraud's list never reaches the staff routes: a poisoned list must not lock the people who fix it out.
        for name in ("customer", "partner"):
            self._deny[name].extend(fraud_denied)

    def permits(self, route_class: str, ip: str) -> bool:
        address = _address(ip)
        allow = self._allow[route_class]
        if address is None:
            return not allow
        if any(address in network for network in self._deny[route_class]):
            return False
        return not allow or any(address in network for network in allow)


async def fetch_fraud_ip_denies(fraud: FraudClient) -> tuple[Network, ...] | None:
    """fraud's IP deny list in force (staff's and its rules' entries), or None when fraud cannot answer: the
    last list known stays in force then."""
    try:
        denied = await fraud.denied_networks()
    except FraudUnavailable:
        return None
    networks = []
    for text in denied.networks:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue
    return tuple(networks)


def _rule_from(row: Any) -> IpRule:
    return IpRule(
        id=row.id,
        route_class=row.route_class,
        kind=row.kind,
        network=ipaddress.ip_network(row.cidr),
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
    )


# ---- the controls of one replica ----------------------------------------------------------------------------


class GatewayControls:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        limiter: RateLimiter,
        known_operations: Iterable[str],
        refresh_seconds: float = 1.0,
        fraud_lists: Callable[[], Awaitable[tuple[Network, ...] | None]] | None = None,
    ) -> None:
        """`fraud_lists`: how to read fraud's IP deny list (fetch_fraud_ip_denies), merged into the customer and
        partner deny rules at every reload; None: no fraud list (tests of the controls alone)."""
        self._fraud_lists = fraud_lists
        self._fraud_list_stale = False
        self._database = database
        self._clock = clock
        self.limiter = limiter
        self.known_operations = frozenset(known_operations)
        self._refresh_seconds = refresh_seconds
        self._switches: dict[tuple[str, str], KillSwitch] = {}
        self._rules = IpRuleSet(())
        self._fraud_denied: tuple[Network, ...] = ()
        self._generation = 0  # bumped by local changes, so that a reload begun before one cannot undo it
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0

    # -- state in memory

    async def refresh(self) -> None:
        generation = self._generation
        async with self._database.reading() as session:
            switches = (await session.execute(select(kill_switch))).all()
            rules = (await session.execute(select(ip_rule).where(ip_rule.c.removed_at.is_(None)))).all()
        fraud_denied = self._fraud_denied
        if self._fraud_lists is not None:
            fetched = await self._fraud_lists()
            if fetched is None and not self._fraud_list_stale:
                log.warning("fraud's IP deny list cannot be read; the last one known stays in force")
            self._fraud_list_stale = fetched is None
            fraud_denied = fraud_denied if fetched is None else fetched
        if generation != self._generation:
            return  # a change made here meanwhile is newer than what was read; the next reload catches up
        self._switches = {(row.operation, row.partner_id): KillSwitch(**row._asdict()) for row in switches}
        self._fraud_denied = fraud_denied
        self._rules = IpRuleSet((_rule_from(row) for row in rules), fraud_denied)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.refresh()
                if self._clock.timestamp() - self._last_prune > 60:
                    self._last_prune = self._clock.timestamp()
                    await self.limiter.prune()
            except Exception:  # keep the last known state; try again next tick
                log.exception("reloading kill switches and IP rules failed")

    async def start(self) -> None:
        try:
            await self.refresh()
        except Exception:  # a database not migrated yet: readyz says so, and the loop retries
            log.exception("loading kill switches and IP rules at start-up failed")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gateway-controls-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.limiter.aclose()

    # -- checks, per request

    def suspended(self, operation: str, partner_id: str | None = None) -> KillSwitch | None:
        for key in ((operation, ALL_PARTNERS), (operation, partner_id or ALL_PARTNERS)):
            found = self._switches.get(key)
            if found is not None and found.active:
                return found
        return None

    def check_operation(self, operation: str, partner_id: str | None = None) -> None:
        if self.suspended(operation, partner_id) is not None:
            raise OperationSuspended(
                "This operation is suspended for now; please try again later.", operation=operation
            )

    def check_ip(self, route_class: str, ip: str) -> None:
        if not self._rules.permits(route_class, ip):
            raise IpDenied("Access from this address is not allowed.")

    # -- changes by staff (audited by the caller in the same transaction)

    async def kill_switches(self, session: AsyncSession) -> list[KillSwitch]:
        rows = (
            await session.execute(select(kill_switch).order_by(kill_switch.c.operation, kill_switch.c.partner_id))
        ).all()
        return [KillSwitch(**row._asdict()) for row in rows]

    async def set_kill_switch(
        self, session: AsyncSession, *, operation: str, partner_id: str | None, active: bool, reason: str, set_by: str
    ) -> KillSwitch:
        check_switchable(operation, self.known_operations)
        switch = KillSwitch(operation, partner_id or ALL_PARTNERS, active, reason, set_by, self._clock.now())
        values = {
            "active": switch.active,
            "reason": switch.reason,
            "set_by": switch.set_by,
            "set_at": switch.set_at,
        }
        changed = await session.execute(
            update(kill_switch)
            .where(kill_switch.c.operation == switch.operation, kill_switch.c.partner_id == switch.partner_id)
            .values(**values)
        )
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            await session.execute(
                kill_switch.insert().values(operation=switch.operation, partner_id=switch.partner_id, **values)
            )
        await session.execute(
            kill_switch_change.insert().values(
                id=new_id("ksw"), operation=switch.operation, partner_id=switch.partner_id, **values
            )
        )

        def apply() -> None:
            self._generation += 1
            self._switches = {**self._switches, (switch.operation, switch.partner_id): switch}

        on_commit(session, apply)
        return switch

    async def ip_rules(self, session: AsyncSession) -> list[IpRule]:
        rows = (
            await session.execute(
                select(ip_rule).where(ip_rule.c.removed_at.is_(None)).order_by(ip_rule.c.created_at, ip_rule.c.id)
            )
        ).all()
        return [_rule_from(row) for row in rows]

    async def add_ip_rule(
        self,
        session: AsyncSession,
        *,
        route_class: str,
        kind: str,
        cidr: str,
        note: str,
        created_by: str,
        caller_ip: str,
    ) -> tuple[IpRule, bool]:
        """The rule and whether it is new: the same active rule again changes nothing."""
        network = parse_cidr(cidr)
        current = await self.ip_rules(session)
        for rule in current:
            if (rule.route_class, rule.kind, rule.network) == (route_class, kind, network):
                return rule, False
        rule = IpRule(new_id("ipr"), route_class, kind, network, note, created_by, self._clock.now())
        self._refuse_lockout([*current, rule], caller_ip)
        await session.execute(
            ip_rule.insert().values(
                id=rule.id,
                route_class=route_class,
                kind=kind,
                cidr=str(network),
                note=note,
                created_by=created_by,
                created_at=rule.created_at,
            )
        )
        self._reload_rules_on_commit(session, [*current, rule])
        return rule, True

    async def remove_ip_rule(self, session: AsyncSession, *, rule_id: str, removed_by: str, caller_ip: str) -> IpRule:
        current = await self.ip_rules(session)
        found = next((rule for rule in current if rule.id == rule_id), None)
        if found is None:
            raise Problem("No such IP rule.", code="not_found", status=404)
        remaining = [rule for rule in current if rule.id != rule_id]
        self._refuse_lockout(remaining, caller_ip)
        await session.execute(
            update(ip_rule).where(ip_rule.c.id == rule_id).values(removed_at=self._clock.now(), removed_by=removed_by)
        )
        self._reload_rules_on_commit(session, remaining)
        return found

    def _refuse_lockout(self, rules: Sequence[IpRule], caller_ip: str) -> None:
        if not IpRuleSet(rules).permits("ops", caller_ip):
            raise Problem(
                "This change would shut the staff routes to your own address.", code="would_lock_out", status=422
            )

    def _reload_rules_on_commit(self, session: AsyncSession, rules: Sequence[IpRule]) -> None:
        def apply() -> None:
            self._generation += 1
            self._rules = IpRuleSet(rules, self._fraud_denied)

        on_commit(session, apply)
