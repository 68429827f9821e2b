"""The producer's side of the notification contract: what send_notification queues is what notify takes, and a
notice notify would refuse is named at the producer (a warning, an error under pytest), not only by a 422 later."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast, get_args

import pytest

from shared.contracts.notifications import (
    DATA_MODELS,
    CodeOperation,
    EventType,
    LoginData,
    NotificationRequest,
    OneTimeCodeData,
    PasswordChangedData,
    validate_data,
)
from shared.notifications import NotificationContractWarning, notification_payload
from tests.notify.samples import SAMPLES

AT = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)


def payload(event_type: EventType, data: Any, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "key": "auth:test:0001",
        "customer_id": "cus_1",
        "language": "ja",
        "email": "taro@example.jp",
        "phone": None,
        "channel": None,
    }
    return notification_payload(event_type=event_type, data=data, **{**arguments, **overrides})


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_built_from_its_model_is_the_request_notify_takes(event_type: EventType) -> None:
    data = DATA_MODELS[event_type](**SAMPLES[event_type])
    channel = "sms" if event_type is EventType.ONE_TIME_CODE else None
    body = payload(event_type, data, channel=channel)
    request = NotificationRequest.model_validate(body)
    assert request.event_type is event_type
    assert validate_data(event_type, request.data) == data
    assert body["to"] == {"email": "taro@example.jp"}  # no empty contact goes on the wire
    assert ("channel" in body) is (channel is not None)


def test_a_code_for_an_operation_notify_does_not_know_is_named_at_the_producer() -> None:
    # The case that lost a customer's code: an operation string the code message has no words for.
    data = OneTimeCodeData.model_construct(code="482913", expires_in=60, operation=cast(CodeOperation, "kyc_review"))
    with pytest.warns(NotificationContractWarning, match=r"data\.operation"):
        body = payload(EventType.ONE_TIME_CODE, data, channel="sms", phone="+819012345678")
    assert body["data"]["operation"] == "kyc_review"  # still queued: notify refuses it and the outbox keeps it


@pytest.mark.parametrize("operation", get_args(CodeOperation))
def test_every_operation_of_the_contract_is_accepted(operation: str) -> None:
    data = OneTimeCodeData.model_construct(code="482913", expires_in=60, operation=cast(CodeOperation, operation))
    body = payload(EventType.ONE_TIME_CODE, data, channel="email")
    assert validate_data(EventType.ONE_TIME_CODE, body["data"]) == data


def test_the_data_of_another_event_is_named_at_the_producer() -> None:
    data = LoginData.model_construct(at=AT, device="iPhone / Safari", ip="203.0.113.7")
    with pytest.warns(NotificationContractWarning, match="password_changed notice takes a PasswordChangedData"):
        payload(EventType.PASSWORD_CHANGED, data)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"key": "short"}, "idempotency_key"),
        ({"language": "fr"}, "language"),
        ({"phone": "090-1234-5678"}, "to.phone"),
        ({"email": "not an address"}, "to.email"),
    ],
)
def test_an_envelope_notify_would_refuse_is_named_at_the_producer(overrides: dict[str, Any], field: str) -> None:
    with pytest.warns(NotificationContractWarning, match=field.replace(".", r"\.")):
        payload(EventType.PASSWORD_CHANGED, PasswordChangedData(at=AT), **overrides)


def test_a_value_out_of_bounds_is_named_with_its_field() -> None:
    data = OneTimeCodeData.model_construct(code="48291", expires_in=60, operation="login")
    with pytest.warns(NotificationContractWarning, match=r"data\.code"):
        payload(EventType.ONE_TIME_CODE, data, channel="sms")
