"""FastAPI dependencies every service uses, as Annotated aliases.

Each is `async def`, even without anything to await: FastAPI runs a plain `def` dependency in a worker thread,
two thread hand-offs per request for a dictionary look-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.identity import ServiceIdentity
from shared.problems import Problem
from shared.service import ServiceState


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]

R = TypeVar("R")


def runtime_of(state: ServiceState, kind: type[R]) -> R:
    """The service's runtime, which its start-up hook built (ServiceState.runtime), as the type it is."""
    runtime = state.runtime
    if not isinstance(runtime, kind):
        raise RuntimeError(f"the {state.name} service has no {kind.__name__} (not started?)")
    return runtime


def runtime_dependency(kind: type[R]) -> Callable[[Request], Coroutine[Any, Any, R]]:
    """A dependency answering the service's runtime: `Annotated[GatewayRuntime, Depends(runtime_dependency(…))]`."""

    async def get_runtime(request: Request) -> R:
        return runtime_of(request.app.state.service, kind)

    return get_runtime


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed after the route returns, before the answer is sent."""
    async with state.database.transaction() as session:
        yield session


# scope="function": the commit happens before the response goes out, so a failed commit is never
# reported to the caller as a success.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_identity(request: Request) -> ServiceIdentity:
    identity = request.scope.get("state", {}).get("identity")
    if not isinstance(identity, ServiceIdentity):
        raise Problem("This route needs a service identity.", code="service_identity_required", status=401)
    return identity


IdentityDep = Annotated[ServiceIdentity, Depends(get_identity)]


def only_from(*callers: str) -> Any:
    """A route (or router) dependency: only these services may call it; any other, even with a valid identity of its
    own, gets 403. Each route names the services that legitimately call it (SEC-1: a service's key speaks for that
    service alone, so what it may ask for is decided here)."""
    allowed = frozenset(callers)

    async def check(identity: IdentityDep) -> None:
        if identity.caller not in allowed:
            raise Problem(f"This route does not answer the {identity.caller} service.", code="forbidden", status=403)

    return Depends(check)
