"""Rate limits at the gateway (SEC-3): fixed-window counters per IP, customer or partner, shared by the replicas.

The counters live in Redis when SEKISHO_REDIS_URL is set, else in the gateway's database (`rate_counter`,
one UPSERT … RETURNING per counted request). A request over a limit gets 429 `rate_limited` with
`Retry-After`, the seconds until its window ends. Without its counter store the gateway refuses (503)
rather than let brute force go uncounted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from services.gateway.models import rate_counter
from services.gateway.settings import GatewaySettings, RateLimit
from shared.clock import Clock
from shared.database import Database
from shared.networks import client_key
from shared.problems import Problem


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

    async def prune(self, before: int) -> None:
        async with self._database.transaction() as session:
            await session.execute(delete(rate_counter).where(rate_counter.c.window_start < before))

    async def aclose(self) -> None:
        return None


class RedisRateCounter:
    def __init__(self, url: str, *, prefix: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    async def hit(self, key: str, window_start: int, window_seconds: int) -> int:
        from redis.exceptions import RedisError

        name = f"{self._prefix}rate:{key}:{window_start}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_seconds + 5, nx=True)
                count, _ = await pipe.execute()
        except RedisError as exc:
            raise CounterUnavailable("Requests cannot be counted right now; try again shortly.") from exc
        return int(count)

    async def prune(self, before: int) -> None:
        return None  # keys expire on their own

    async def aclose(self) -> None:
        await self._redis.aclose()


def counter_for(settings: GatewaySettings, database: Database) -> RateCounter:
    if settings.redis_url:
        return RedisRateCounter(settings.redis_url, prefix=settings.redis_key_prefix)
    return DatabaseRateCounter(database)


class RateLimiter:
    def __init__(self, *, counter: RateCounter, limits: Sequence[RateLimit], clock: Clock) -> None:
        self.counter = counter
        self._limits = tuple(limits)
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
        # Per IP is per IPv4 address or per IPv6 /64: one subscriber's /64 is one client.
        keys = {"ip": client_key(ip) if ip is not None else None, "customer": customer_id, "partner": partner_id}
        now = self._clock.timestamp()
        for limit in self._limits:
            value = keys[limit.per]
            if value is None:
                continue
            if limit.operation not in (None, operation) or limit.route_class not in (None, route_class):
                continue
            window_start = int(now // limit.window_seconds) * limit.window_seconds
            scope = limit.operation or f"class-{limit.route_class}"
            key = f"{scope}:{limit.per}={value}:{limit.window_seconds}"
            count = await self.counter.hit(key, window_start, limit.window_seconds)
            if count > limit.limit:
                retry_after = max(1, math.ceil(window_start + limit.window_seconds - now))
                raise RateLimited(
                    "Too many requests; wait before trying again.",
                    headers={"Retry-After": str(retry_after)},
                    retry_after=retry_after,
                )

    async def prune(self) -> None:
        """Drops database counters whose windows have all ended (Redis keys expire by themselves)."""
        longest = max((limit.window_seconds for limit in self._limits), default=0)
        await self.counter.prune(int(self._clock.timestamp()) - longest)

    async def aclose(self) -> None:
        await self.counter.aclose()
