"""Rate limits at the gateway (SEC-3): fixed-window counters per IP, customer or partner, shared by the replicas.

The counters live in Redis when SEKISHO_REDIS_URL is set, else in the gateway's database (`rate_counter`,
one UPSERT … RETURNING per counted request). A request over a limit gets 429 `rate_limited` with
`Retry-After`, the seconds until its window ends. Without its counter store the gateway refuses (503)
rather than let brute force go uncounted.

A limit that counts only what was created (`counts="created"`: account opening, per IP) must not count a
refused attempt (a weak password, a typo) yet must not let a burst of parallel requests all pass before any
is counted. So a request holds a slot before it is forwarded (the count goes up; over the limit, the slot is
given back and the request refused) and gives it back when the service answered anything but 201. At most
`limit` are created per window, whatever the concurrency; while slots are held by requests in flight, a
request beyond them waits for the next window even if those in flight fail (a slot held for a few seconds).
A request whose answer never came (a timeout) keeps its slot: the account may exist.

Staff clear a key's counters (`DELETE /v1/ops/rate-limits`): a carrier's address shared by many customers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite

from services.gateway.models import rate_counter
from services.gateway.settings import GatewaySettings, RateLimit
from shared.clock import Clock
from shared.database import Database
from shared.networks import client_key
from shared.problems import Problem

log = logging.getLogger("sekisho.gateway.rate_limits")


class RateLimited(Problem):
    status = 429
    code = "rate_limited"


class CounterUnavailable(Problem):
    status = 503
    code = "service_unavailable"


class RateCounter(Protocol):
    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        """Counts one request in this key's window; the count so far, this one included."""
        ...

    async def release(self, key: str, window_start: int) -> None:
        """Takes back one count from this key's window (a slot held by a request that created nothing)."""
        ...

    async def clear(self, key: str, window_start: int) -> None:
        """Forgets this key's count in the window starting at `window_start` (and, where older windows are kept,
        in those too)."""
        ...

    async def prune(self, before: int) -> None: ...

    async def aclose(self) -> None: ...


class DatabaseRateCounter:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        async with self._database.one_statement() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = (
                insert(rate_counter)
                .values(key=key, window_start=window_start, count=1)
                .on_conflict_do_update(index_elements=["key", "window_start"], set_={"count": rate_counter.c.count + 1})
                .returning(rate_counter.c.count)
            )
            count = (await session.execute(statement)).scalar_one()
        return int(count)

    async def release(self, key: str, window_start: int) -> None:
        async with self._database.one_statement() as session:
            await session.execute(
                update(rate_counter)
                .where(rate_counter.c.key == key, rate_counter.c.window_start == window_start, rate_counter.c.count > 0)
                .values(count=rate_counter.c.count - 1)
            )

    async def clear(self, key: str, window_start: int) -> None:
        async with self._database.one_statement() as session:
            await session.execute(delete(rate_counter).where(rate_counter.c.key == key))

    async def prune(self, before: int) -> None:
        async with self._database.transaction() as session:
            await session.execute(delete(rate_counter).where(rate_counter.c.window_start < before))

    async def aclose(self) -> None:
        return None


_DECREMENT_IF_PRESENT = """
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then
    return redis.call('DECR', KEYS[1])
end
return 0
"""


class RedisRateCounter:
    def __init__(self, url: str, *, prefix: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        from redis.exceptions import RedisError

        name = self._name(key, window_start)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_seconds + 5, nx=True)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise CounterUnavailable("Requests cannot be counted right now; try again shortly.") from exc
        return int(count)

    async def release(self, key: str, window_start: int) -> None:
        from redis.exceptions import RedisError

        try:
            # Only a key that still exists: DECR on an expired one would make a -1 that never expires.
            await self._redis.eval(_DECREMENT_IF_PRESENT, 1, self._name(key, window_start))
        except RedisError as exc:
            raise CounterUnavailable("Requests cannot be counted right now; try again shortly.") from exc

    async def clear(self, key: str, window_start: int) -> None:
        from redis.exceptions import RedisError

        try:
            await self._redis.delete(self._name(key, window_start))  # older windows have expired
        except RedisError as exc:
            raise CounterUnavailable("Requests cannot be counted right now; try again shortly.") from exc

    def _name(self, key: str, window_start: int) -> str:
        return f"{self._prefix}rate:{key}:{window_start}"

    async def prune(self, before: int) -> None:
        return None  # keys expire on their own

    async def aclose(self) -> None:
        await self._redis.aclose()


def counter_for(settings: GatewaySettings, database: Database) -> RateCounter:
    if settings.redis_url:
        return RedisRateCounter(settings.redis_url, prefix=settings.redis_key_prefix)
    return DatabaseRateCounter(database)


@dataclass(frozen=True)
class Held:
    """The slots one request holds in limits that count only what was created: (key, window start)."""

    slots: tuple[tuple[str, int], ...] = ()


Per = Literal["ip", "customer", "partner"]


def counter_key(limit: RateLimit, value: str) -> str:
    scope = limit.operation or f"class-{limit.route_class}"
    if limit.per == "ip":
        value = client_key(value)  # an IPv4 address, or an IPv6 client's /64: one subscriber's /64 is one client
    return f"{scope}:{limit.per}={value}:{limit.window_seconds}"


class RateLimiter:
    def __init__(self, *, counter: RateCounter, limits: Sequence[RateLimit], clock: Clock) -> None:
        self.counter = counter
        self._limits = tuple(limit for limit in limits if limit.counts == "requests")
        self._created_limits = tuple(limit for limit in limits if limit.counts == "created")
        self._clock = clock

    async def check(
        self,
        *,
        operation: str,
        route_class: str,
        ip: str | None = None,
        customer_id: str | None = None,
        partner_id: str | None = None,
    ) -> None:
        """Counts this request against every limit that applies to it and whose key is known."""
        keys = {"ip": ip, "customer": customer_id, "partner": partner_id}
        now = self._clock.timestamp()
        for limit in self._limits:
            value = keys[limit.per]
            if value is None:
                continue
            if limit.operation not in (None, operation) or limit.route_class not in (None, route_class):
                continue
            window_start = int(now // limit.window_seconds) * limit.window_seconds
            key = counter_key(limit, value)
            count = await self.counter.hit(key, window_start, limit.window_seconds)
            if count > limit.limit:
                raise _limited(window_start + limit.window_seconds - now)

    async def hold(
        self,
        *,
        operation: str,
        route_class: str,
        ip: str | None = None,
        customer_id: str | None = None,
        partner_id: str | None = None,
    ) -> Held:
        """A slot in every limit of created things that applies to this request; 429 (holding nothing) when one
        is full. Give the slots back with `release` unless the request created what the limit counts."""
        keys = {"ip": ip, "customer": customer_id, "partner": partner_id}
        now = self._clock.timestamp()
        held: list[tuple[str, int]] = []
        for limit in self._created_limits:
            value = keys[limit.per]
            if value is None:
                continue
            if limit.operation not in (None, operation) or limit.route_class not in (None, route_class):
                continue
            window_start = int(now // limit.window_seconds) * limit.window_seconds
            key = counter_key(limit, value)
            count = await self.counter.hit(key, window_start, limit.window_seconds)
            held.append((key, window_start))
            if count > limit.limit:
                await self.release(Held(tuple(held)))
                raise _limited(window_start + limit.window_seconds - now)
        return Held(tuple(held))

    async def release(self, held: Held) -> None:
        """Gives the slots back. One that cannot be given back (the store is away) stays counted, the safe side:
        the caller still gets the service's answer."""
        for key, window_start in held.slots:
            try:
                await self.counter.release(key, window_start)
            except Exception:  # counted is the safe side; the answer must still go out
                log.warning("a held rate-limit slot could not be given back", extra={"key": key}, exc_info=True)

    async def clear(self, *, operation: str, per: Per, value: str) -> int:
        """Forgets the counts of `value` (an IP, a customer or a partner) in every limit of `operation` keyed by
        `per`; how many limits that was."""
        now = self._clock.timestamp()
        cleared = 0
        for limit in (*self._limits, *self._created_limits):
            if limit.operation != operation or limit.per != per:
                continue
            window_start = int(now // limit.window_seconds) * limit.window_seconds
            await self.counter.clear(counter_key(limit, value), window_start)
            cleared += 1
        return cleared

    async def prune(self) -> None:
        """Drops database counters whose windows have all ended (Redis keys expire by themselves)."""
        longest = max((limit.window_seconds for limit in (*self._limits, *self._created_limits)), default=0)
        await self.counter.prune(int(self._clock.timestamp()) - longest)

    async def aclose(self) -> None:
        await self.counter.aclose()


def _limited(seconds_left: float) -> RateLimited:
    retry_after = max(1, math.ceil(seconds_left))
    return RateLimited(
        "Too many requests; wait before trying again.",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )
