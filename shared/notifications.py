"""How a producing service asks notify to tell a customer something: through its outbox, in its own transaction.

The producer builds the event's data model (shared/contracts/notifications.py) with `model_construct`, which mypy
checks field by field (names, types, the Literal of an operation) but which does not validate values. The whole
request is then checked here against the same models notify validates with. A notice that does not fit is still
queued, and notify refuses it and it stays in the outbox for staff (shared/outbox.py), because a refusal here would
fail the customer's login or change that the notice only reports; but it is named here, at its producer: logged as
an error and raised as a `NotificationContractWarning`, which the test suite turns into an error
(pytest `filterwarnings = error`), so that a producer's tests fail at the call that built the wrong notice.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.notifications import (
    DATA_MODELS,
    EventType,
    NotificationData,
    NotificationRequest,
    Recipient,
    validate_data,
)
from shared.outbox import Outbox
from shared.statements import Statements

NOTIFY_PATH = "/internal/notifications"

logger = logging.getLogger(__name__)


class NotificationContractWarning(UserWarning):
    """A producer queued a notice that notify will refuse (422): a bug at the producer."""


async def send_notification(
    outbox: Outbox,
    session: AsyncSession | Statements,
    *,
    key: str,
    event_type: EventType,
    data: NotificationData,
    customer_id: str | None = None,
    language: str = "ja",
    email: str | None = None,
    phone: str | None = None,
    channel: Literal["sms", "email"] | None = None,
    once: bool = False,
) -> None:
    """Queue a notification that leaves only if `session` commits. `data` is the model of `event_type`
    (DATA_MODELS). `key` must identify this very notice; with `once`, a key already queued keeps its first notice
    and this one is dropped."""
    payload = notification_payload(
        key=key,
        event_type=event_type,
        data=data,
        customer_id=customer_id,
        language=language,
        email=email,
        phone=phone,
        channel=channel,
    )
    await outbox.enqueue(session, destination="notify", path=NOTIFY_PATH, payload=payload, key=key, once=once)


def notification_payload(
    *,
    key: str,
    event_type: EventType,
    data: NotificationData,
    customer_id: str | None,
    language: str,
    email: str | None,
    phone: str | None,
    channel: Literal["sms", "email"] | None,
) -> dict[str, Any]:
    """The body of `POST /internal/notifications`, checked against the contract (see the module's docstring)."""
    request = NotificationRequest.model_construct(
        idempotency_key=key,
        event_type=event_type,
        customer_id=customer_id,
        language=language,  # type: ignore[arg-type]  # checked below with the rest, not refused here
        to=Recipient.model_construct(email=email, phone=phone),
        channel=channel,
        data=data.model_dump(mode="json", warnings=False),
    )
    payload = request.model_dump(mode="json", warnings=False, exclude_none=False)
    payload["to"] = {name: value for name, value in payload["to"].items() if value is not None}
    if request.channel is None:
        del payload["channel"]
    problems = contract_violations(payload, data)
    if problems:
        logger.error("notification %s (%s) does not fit notify's contract: %s", key, event_type, "; ".join(problems))
        warnings.warn(
            f"notification {key} ({event_type}) will be refused by notify: {'; '.join(problems)}",
            NotificationContractWarning,
            stacklevel=3,
        )
    return payload


def contract_violations(payload: dict[str, Any], data: NotificationData) -> list[str]:
    """What notify would refuse in this body, in words: empty when it fits."""
    try:
        request = NotificationRequest.model_validate(payload)
    except ValidationError as exc:
        return [_described(error) for error in exc.errors()]
    expected = DATA_MODELS[request.event_type]
    if type(data) is not expected:
        return [f"data is a {type(data).__name__}, a {request.event_type.value} notice takes a {expected.__name__}"]
    try:
        validate_data(request.event_type, request.data)
    except ValidationError as exc:
        return [_described(error, prefix="data.") for error in exc.errors()]
    return []


def _described(error: Any, *, prefix: str = "") -> str:
    field = ".".join(str(part) for part in error["loc"])
    return f"{prefix}{field}: {error['msg']}"
