"""Publication of an incident and notice to the customers it touched (INC-3), through the gateway: the public notice
anyone reads, and each affected customer told once per template, whatever is sent again or at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sekisho.sinks import SmtpSink
from tests.auth.conftest import CUSTOMER, open_account
from tests.fraud.incident_helpers import desk, open_incident
from tests.fraud.test_incident_containment import GHOST
from tests.fraud.test_ops_api import put_events
from tests.harness import System
from tests.servers import eventually

PUBLICATION = {
    "title": "不正ログインの発生について",
    "body": "当社サービスにおいて、第三者による不正ログインが発生しました。対象のお客さまには個別にご連絡しています。",
    "language": "ja",
}
B_EMAIL = "b.suzuki@example.jp"
CAUTION_JA = "不正アクセスに関するご注意のお願い"
APOLOGY_EN = "Our apology: unauthorised access"


def _told(smtp: SmtpSink, to: str, subject: str) -> list[str]:
    return [str(m.get_body(("plain",)).get_content()) for m in smtp.to(to) if subject in str(m["Subject"])]  # type: ignore[union-attr]


@pytest.mark.req("INC-3")
async def test_an_incident_is_published_and_every_affected_customer_is_told_once(
    system: System, smtp: SmtpSink
) -> None:
    supervisor, analyst, _ = await desk(system)
    a = await open_account(system.gateway)
    b = await open_account(system.gateway, email=B_EMAIL, phone="090-1111-0002")
    at = system.clock.now() - timedelta(hours=3)
    await put_events(
        system,
        {"type": "login_succeeded", "occurred_at": at, "customer_id": a, "ip": "203.0.113.7"},
        {"type": "login_succeeded", "occurred_at": at, "customer_id": b, "ip": "203.0.113.8"},
        {"type": "login_succeeded", "occurred_at": at, "customer_id": GHOST, "ip": "203.0.113.9"},
    )
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"
    before = await system.gateway.post(f"{path}/notices", json={"template": "incident_caution"}, headers=supervisor)
    assert before.status_code == 409
    assert before.json()["code"] == "no_affected_customers"
    contained = await system.gateway.post(f"{path}/containment", json={"ip": "203.0.113.0/24"}, headers=supervisor)
    assert contained.json()["contained"] == 2

    # The public notice (公表): anyone reads it, without signing in.
    published = await system.gateway.post("/v1/ops/publications", json=PUBLICATION, headers=supervisor)
    assert published.status_code == 201, published.text
    public = await system.gateway.get("/v1/notices")
    assert public.status_code == 200
    assert [n["title"] for n in public.json()["notices"]] == [PUBLICATION["title"]]
    noted = await system.gateway.post(
        f"{path}/timeline",
        json={"kind": "notice", "text": f"ウェブサイトで公表（{published.json()['publication_id']}）"},
        headers=supervisor,
    )
    assert noted.status_code == 201

    # Each affected customer is told, in their language, with the incident's reference.
    sent = await system.gateway.post(f"{path}/notices", json={"template": "incident_caution"}, headers=supervisor)
    assert sent.status_code == 200, sent.text
    assert sent.json()["customers"] == 3
    assert sent.json()["sent"] == 2
    assert sent.json()["failed"] == [{"customer_id": GHOST, "reason": "unknown customer"}]
    await eventually(
        lambda: len(_told(smtp, CUSTOMER["email"], CAUTION_JA)) == 1 and len(_told(smtp, B_EMAIL, CAUTION_JA)) == 1
    )
    assert incident["id"] in _told(smtp, B_EMAIL, CAUTION_JA)[0]

    # Sent again, and another template twice at once: nobody gets any notice twice.
    again = await system.gateway.post(f"{path}/notices", json={"template": "incident_caution"}, headers=supervisor)
    assert again.json()["sent"] == 0
    assert again.json()["already"] == 2
    apologies = await asyncio.gather(
        *(
            system.gateway.post(
                f"{path}/notices", json={"template": "incident_apology", "language": "en"}, headers=supervisor
            )
            for _ in range(2)
        )
    )
    assert [r.status_code for r in apologies] == [200, 200]
    assert sum(r.json()["sent"] for r in apologies) == 2
    await eventually(
        lambda: len(_told(smtp, CUSTOMER["email"], APOLOGY_EN)) == 1 and len(_told(smtp, B_EMAIL, APOLOGY_EN)) == 1
    )
    await asyncio.sleep(0.5)
    for email in (CUSTOMER["email"], B_EMAIL):
        assert len(_told(smtp, email, CAUTION_JA)) == 1
        assert len(_told(smtp, email, APOLOGY_EN)) == 1

    timeline = (await system.gateway.get(path, headers=analyst)).json()["timeline"]
    notices = [e for e in timeline if e["kind"] == "notice"]
    assert notices[0]["text"].startswith("ウェブサイトで公表")
    assert [(e["data"].get("template"), e["data"].get("sent")) for e in notices[1:]] == [
        ("incident_caution", 2),
        ("incident_caution", 0),  # the ghost was tried again
        ("incident_apology", 2),
        ("incident_apology", 0),
    ]


async def test_notices_refused_change_nothing(system: System, smtp: SmtpSink) -> None:
    supervisor, analyst, _ = await desk(system)
    a = await open_account(system.gateway)
    incident = await open_incident(system, supervisor)
    path = f"/v1/ops/incidents/{incident['id']}"
    listed = await system.gateway.post(f"{path}/containment", json={"customer_ids": [a]}, headers=supervisor)
    assert listed.json()["contained"] == 1
    denied = await system.gateway.post(f"{path}/notices", json={"template": "incident_caution"}, headers=analyst)
    assert denied.status_code == 403
    for wrong in ({"template": "free_text"}, {"template": "incident_caution", "language": "fr"}, {}):
        refused = await system.gateway.post(f"{path}/notices", json=wrong, headers=supervisor)
        assert refused.status_code == 422, wrong
        assert refused.json()["code"] == "validation_failed"
    unknown = await system.gateway.post(
        "/v1/ops/incidents/inc_00000000000000000000000000/notices",
        json={"template": "incident_caution"},
        headers=supervisor,
    )
    assert unknown.status_code == 404
    await asyncio.sleep(0.3)
    assert _told(smtp, CUSTOMER["email"], CAUTION_JA) == []
    timeline = (await system.gateway.get(path, headers=analyst)).json()["timeline"]
    assert [e["kind"] for e in timeline if e["kind"] == "notice"] == []
