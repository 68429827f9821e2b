"""The channel a request came through, for access trends (MON-1): a small closed set, only what the system can tell.

- `app`: a customer (or someone signing in, opening an account, resetting a password) whose client is not a
  browser: the mobile app's HTTP stack does not send a browser's `User-Agent`.
- `web`: the same, from a browser (its `User-Agent` starts with `Mozilla/`, as every browser's does).
- `atm`: a partner ATM network's signed call (HTTP Message Signatures).
- `ops`: staff, through the ops API (its sign-in included) or the console.
- `system`: no outside caller: a worker, the sweeper, a service acting on its own (a fraud action, a retry).
- `unknown`: an event from a producer older than channels, or stored before they were recorded.

The gateway decides it for each request and vouches for it inside the signed internal identity (`ctx.channel`);
each service's identity middleware makes it the channel of what the request records (shared/events.py). App and
web are told apart by what the client says of itself: good enough for trends, never used as a control.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Final, Literal, get_args

Channel = Literal["app", "web", "atm", "ops", "system", "unknown"]
CHANNELS: Final[tuple[str, ...]] = get_args(Channel)

# What a request records when nothing else says: outside a request (workers, the sweeper) it is the system.
channel_var: ContextVar[Channel] = ContextVar("sekisho_channel", default="system")


def customer_channel(user_agent: str | None) -> Channel:
    """`web` for a browser, `app` otherwise (the app's own HTTP client)."""
    return "web" if user_agent is not None and user_agent.lstrip().startswith("Mozilla/") else "app"


def of_request(caller: str, path: str, user_agent: str | None) -> Channel:
    """The gateway's channel for a request to `path` whose route names `caller` (staff, partner, customer, anyone):
    the ops API's routes, staff sign-in included, are `ops`."""
    if caller == "staff" or path.startswith("/v1/ops/"):
        return "ops"
    if caller == "partner":
        return "atm"
    return customer_channel(user_agent)


def from_context(caller: str, context: dict[str, Any]) -> Channel:
    """The channel of an internal call: what the gateway vouched for, else the calling service itself (`system`)."""
    channel = context.get("channel")
    if caller == "gateway":
        for known in get_args(Channel):
            if channel == known:
                return known  # type: ignore[no-any-return]
    return "system"
