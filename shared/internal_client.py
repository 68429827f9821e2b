"""The one way a sekisho service calls another: pooled HTTP, signed identity, request id, bounded retries.

Retries happen only for calls that are safe to repeat (idempotent methods, or a call the caller marks
idempotent because it carries an idempotency key); a POST that may have reached the other side is
never sent twice behind the caller's back.

Over the network the calls go through aiohttp, and this is the only module that uses it: `bench http_clients`
measured its client at 0.29 ms of CPU a call against httpx's 0.95 ms one at a time, and 0.22 ms against 3.2 ms
at 32 concurrent calls, and every public request makes one to three of them. A service given an in-process
transport (the tests' ASGI apps) is called through httpx. Either way the caller gets an `httpx.Response`.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
import random
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
import httpx
from opentelemetry.trace import Tracer
from pydantic import BaseModel, ValidationError

from shared.identity import IdentityIssuer
from shared.logs import request_id_var
from shared.middleware import IDENTITY_HEADER, REQUEST_ID_HEADER
from shared.problems import Problem
from shared.settings import ServiceSettings
from shared.tracing import answered, client_span

M = TypeVar("M", bound=BaseModel)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})


class ServiceUnavailable(Problem):
    status = 503
    code = "service_unavailable"


class ServiceTimeout(Problem):
    status = 504
    code = "upstream_timeout"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process: each client made its own, loading the CA bundle again
    (30 ms; a test system starts six clients)."""
    return httpx.create_ssl_context()


class InternalClient:
    def __init__(
        self,
        *,
        settings: ServiceSettings,
        issuer: IdentityIssuer,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._settings = settings
        self._tracer = tracer  # None: traces are off (shared/tracing.py), and a call costs nothing more
        self._issuer = issuer
        self._retries = settings.internal_retries
        self._in_process = frozenset(transports or ())
        mounts: dict[str, httpx.AsyncBaseTransport] = {}
        for service, transport in (transports or {}).items():
            mounts[settings.service_url(service)] = transport
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.internal_timeout_seconds, connect=2.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30),
            mounts=mounts or None,
            verify=_tls_context(),
        )
        self._network: aiohttp.ClientSession | None = None  # made in the running loop, at the first call

    def _session(self) -> aiohttp.ClientSession:
        if self._network is None or self._network.closed:
            self._network = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(sock_connect=2.0, sock_read=self._settings.internal_timeout_seconds),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._network

    @property
    def traced(self) -> bool:
        """Traces are on: what this service queues keeps the traceparent of the request that queued it."""
        return self._tracer is not None

    async def _send(
        self,
        service: str,
        method: str,
        url: str,
        *,
        json: Any,
        content: bytes | None,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        if service in self._in_process:
            return await self._http.request(method, url, json=json, content=content, params=params, headers=headers)
        if json is not None:
            content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        try:
            async with self._session().request(
                method, url, data=content, params=dict(params) if params else None, headers=headers
            ) as answer:
                body = await answer.read()
                return httpx.Response(answer.status, headers=list(answer.raw_headers), content=body)
        except aiohttp.ServerTimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout") from exc
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(str(exc) or type(exc).__name__) from exc

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        context: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
        idempotent: bool | None = None,
        trace_links: Sequence[str | None] = (),
    ) -> httpx.Response:
        """Send one call to `service`; raise ServiceUnavailable / ServiceTimeout when it cannot be answered.
        `trace_links`: traceparents the call's span links to, when traces are on (shared/tracing.py)."""
        method = method.upper()
        retry = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempts = 1 + (self._retries if retry else 0)
        url = self._settings.service_url(service) + path
        send_headers = dict(headers or {})
        request_id = request_id_var.get()
        if request_id is not None:
            send_headers[REQUEST_ID_HEADER] = request_id
        # httpx's timeouts bound each phase (connect, each read); the deadline bounds the whole call.
        deadline = timeout_seconds if timeout_seconds is not None else self._settings.internal_timeout_seconds
        if self._tracer is None:
            return await self._attempts(
                service, method, url, attempts, deadline, json, content, params, context, send_headers
            )
        # One client span for the call (its retries included), whose traceparent the callee continues.
        with client_span(self._tracer, service, method, send_headers, trace_links) as span:
            response = await self._attempts(
                service, method, url, attempts, deadline, json, content, params, context, send_headers
            )
            answered(span, response.status_code)
            return response

    async def _attempts(
        self,
        service: str,
        method: str,
        url: str,
        attempts: int,
        deadline: float,
        json: Any,
        content: bytes | None,
        params: Mapping[str, str] | None,
        context: dict[str, Any] | None,
        send_headers: dict[str, str],
    ) -> httpx.Response:
        for attempt in range(1, attempts + 1):
            send_headers[IDENTITY_HEADER] = self._issuer.issue(service, context)
            try:
                async with asyncio.timeout(deadline):
                    response = await self._send(
                        service, method, url, json=json, content=content, params=params, headers=send_headers
                    )
            except (httpx.TimeoutException, TimeoutError) as exc:
                if attempt < attempts:
                    await _backoff(attempt)
                    continue
                raise ServiceTimeout(f"The {service} service did not answer in time.", service=service) from exc
            except httpx.TransportError as exc:
                if attempt < attempts:
                    await _backoff(attempt)
                    continue
                raise ServiceUnavailable(f"The {service} service cannot be reached.", service=service) from exc
            if response.status_code in RETRY_STATUSES and attempt < attempts:
                await _backoff(attempt)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._network is not None:
            await self._network.close()


async def _backoff(attempt: int) -> None:
    # 50 ms, 100 ms, 200 ms … with full jitter, so that replicas retrying together spread out.
    await asyncio.sleep(random.uniform(0, 0.05 * 2 ** (attempt - 1)))


def answer_as(model: type[M], content: bytes, error: Problem) -> M:
    """The other service's answer as its contract's model; `error` when it is not one (a typed client's own)."""
    try:
        return model.model_validate_json(content)
    except ValidationError as exc:
        raise error from exc
