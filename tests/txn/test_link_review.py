"""The existing-link review (INC-9, `sekisho links review`): links made under weaker rules than today's are
suspended pending re-verification, their owners told once, the run resumable after an interruption and showing its
progress; a link made again under today's rules charges again."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import httpx
import pytest

from sekisho.links import ReviewProgress, review
from sekisho.sinks import SmsSink, SmtpSink
from services.txn import bank_links, models
from services.txn.link_review import ReviewReport
from shared.ids import new_id
from tests.harness import TEST_BLIND_INDEX_KEY, TEST_DATA_KEYS, Backend, System, identity_env
from tests.servers import eventually
from tests.txn.banking import (
    DAY,
    bank_account,
    charge,
    customer_with_link,
    fraud_events,
    link,
    ref,
    refused,
    sign_in_again,
    to_mid_month,
    txn_rows,
    verified_customer,
)
from tests.txn.conftest import signed_in_customer


async def create_legacy_link(
    system: System,
    customer_id: str,
    body: dict[str, str],
    *,
    rules_version: int = 1,
    possession_factor: str | None = None,
    holder_matched: bool = False,
) -> str:
    """A link as imported from the older system, whose charge contracts were made with the account's PIN or the
    login password alone and no holder match (rules version 1). A factory: the public API makes only today's links,
    so these rows are written as the import wrote them."""
    runtime = system.apps["txn"].state.service.runtime
    now: datetime = system.clock.now()
    link_id = new_id("lnk")
    async with runtime.database.transaction() as session:
        await session.execute(
            models.bank_link.insert().values(
                id=link_id,
                customer_id=customer_id,
                bank_code=body["bank_code"],
                bank_name="みずほ銀行",
                branch_code=body["branch_code"],
                account_number=runtime.cipher.seal(body["account_number"], context=bank_links.ACCOUNT_NUMBER_CONTEXT),
                account_last4=body["account_number"][-4:],
                account_digest=bank_links.account_digest(runtime.cipher, ref(body)),
                holder_kana=None,
                status=bank_links.ACTIVE,
                rules_version=rules_version,
                possession_factor=possession_factor,
                holder_matched_at=now if holder_matched else None,
                created_at=now,
                cool_off_until=now,
            )
        )
    return link_id


class Interrupted(Exception):
    """The run stopped midway, as a kill between two batches leaves it."""


class StopAfter(ReviewProgress):
    """The command's progress lines, and a stop after `batches` batches."""

    def __init__(self, stream: io.StringIO, batches: int | None = None) -> None:
        super().__init__(stream)
        self.left = batches

    def __call__(self, done: int, total: int) -> None:
        super().__call__(done, total)
        if self.left is not None:
            self.left -= 1
            if self.left == 0:
                raise Interrupted


async def run_review(
    system: System, progress: ReviewProgress, *, batch: int = 1, dry_run: bool = False
) -> ReviewReport:
    """`sekisho links review` as the command runs it, reaching auth in-process."""
    settings = system.apps["txn"].state.service.settings
    auth = httpx.ASGITransport(system.apps["auth"], raise_app_exceptions=False)
    return await review(
        settings, batch=batch, dry_run=dry_run, progress=progress, clock=system.clock, transports={"auth": auth}
    )


def suspension_notices(smtp: SmtpSink, address: str) -> list[str]:
    return [m.get_content() for m in smtp.to(address) if "口座連携の一時停止" in (m["Subject"] or "")]


@pytest.mark.req("INC-9")
async def test_the_review_suspends_weak_links_tells_owners_once_resumes_after_a_stop_and_shows_progress(
    system: System, sms: SmsSink, smtp: SmtpSink
) -> None:
    to_mid_month(system)
    # Today's link (kept), then four links imported from the older system for two customers.
    keeper, kept_link, _ = await customer_with_link(system, sms, account_number="9999999", settled=False)
    owner = await verified_customer(system, sms, email="hanako.2@example.jp", phone="090-8765-4321")
    other = await signed_in_customer(system, sms, email="jiro@example.jp", phone="090-2222-3333")
    first = bank_account(system, account_number="1111111")
    weak = [
        await create_legacy_link(system, owner.customer_id, first),
        await create_legacy_link(
            system,
            owner.customer_id,
            bank_account(system, account_number="2222222"),
            rules_version=2,
            possession_factor="sms",
        ),  # made with a code from the phone, but no holder match recorded
        await create_legacy_link(system, other.customer_id, bank_account(system, account_number="3333333")),
        # today's version and a holder match, but the "second factor" was an e-mail code
        await create_legacy_link(
            system,
            other.customer_id,
            bank_account(system, account_number="4444444"),
            rules_version=2,
            possession_factor="email",
            holder_matched=True,
        ),
    ]

    out = io.StringIO()
    with pytest.raises(Interrupted):
        await run_review(system, StopAfter(out, batches=1))
    assert out.getvalue() == "links review: 1 of 4 links reviewed\n"
    statuses = {r.id: r.status for r in await txn_rows(system, models.bank_link)}
    assert sorted(statuses[i] for i in weak) == ["active"] * 3 + ["suspended_pending_reverification"]

    again = io.StringIO()
    report = await run_review(system, StopAfter(again))
    assert (report.resumed, report.reviewed, report.suspended, report.notified) == (True, 4, 4, 4)
    lines = again.getvalue().splitlines()
    assert lines[0] == "links review: 2 of 4 links reviewed"
    assert lines[-1] == "links review: 4 of 4 links reviewed"
    statuses = {r.id: r.status for r in await txn_rows(system, models.bank_link)}
    assert [statuses[i] for i in weak] == ["suspended_pending_reverification"] * 4
    assert statuses[kept_link] == "active"

    third = await run_review(system, StopAfter(io.StringIO()))  # nothing left: nobody is told twice
    assert (third.resumed, third.total, third.suspended) == (False, 0, 0)
    await eventually(lambda: len(suspension_notices(smtp, owner.email)) == 2)
    await eventually(lambda: len(suspension_notices(smtp, other.email)) == 2)
    notices = suspension_notices(smtp, owner.email)
    assert any("****1111" in n for n in notices)
    assert all("1111111" not in n for n in notices)
    assert suspension_notices(smtp, keeper.email) == []
    queued = [r.idempotency_key for r in await txn_rows(system, models.outbox) if r.destination == "notify"]
    assert sorted(k for k in queued if k.startswith("bank_link_suspended:")) == sorted(
        f"bank_link_suspended:{i}" for i in weak
    )  # one notice per link, however many runs
    assert sorted(e["data"]["link_id"] for e in await fraud_events(system, "bank_link_suspended")) == sorted(weak)

    # A suspended link takes no charge; linked again under today's rules, the account charges again.
    system.clock.advance(seconds=8 * DAY)  # type: ignore[attr-defined]  # the owner's account is a week old
    await sign_in_again(system, sms, owner)
    refused(await charge(system, sms, owner, weak[0], 10_000), "link_suspended")
    relinked = await link(system, sms, owner, first)
    assert relinked.status_code == 201, relinked.text
    charged = await charge(system, sms, owner, relinked.json()["link_id"], 10_000)
    assert charged.status_code == 201, charged.text
    statuses = {r.id: r.status for r in await txn_rows(system, models.bank_link)}
    assert statuses[weak[0]] == "replaced"
    await sign_in_again(system, sms, keeper)
    kept = await charge(system, sms, keeper, kept_link, 10_000)
    assert kept.status_code == 201, kept.text


async def test_a_dry_run_lists_the_weak_links_and_changes_nothing_also_from_the_command_line(
    system: System, sms: SmsSink, backend: Backend
) -> None:
    owner = await signed_in_customer(system, sms)
    link_id = await create_legacy_link(system, owner.customer_id, bank_account(system))
    listed = await run_review(system, ReviewProgress(io.StringIO()), dry_run=True)
    assert (listed.run_id, listed.total) == (None, 1)
    assert listed.candidates == [
        {
            "link_id": link_id,
            "customer_id": owner.customer_id,
            "bank_code": "0001",
            "account_last4": "4567",
            "weaknesses": ["rules_version_1", "no_possession_factor", "no_holder_match"],
        }
    ]

    env: dict[str, Any] = {key: value for key, value in os.environ.items() if not key.startswith("SEKISHO_")}
    env.update(identity_env("txn"))
    env.update(SEKISHO_DATA_DIR=str(backend.data_dir), SEKISHO_DATA_KEYS=TEST_DATA_KEYS)
    env.update(SEKISHO_BLIND_INDEX_KEY=TEST_BLIND_INDEX_KEY)
    if backend.database_url:
        env.update(SEKISHO_DATABASE_URL=backend.database_url, SEKISHO_DATABASE_SCHEMA_PREFIX=backend.schema_prefix)
    command = [sys.executable, "-m", "sekisho.cli", "links", "review", "--dry-run"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: ASYNC221
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["candidates"] == listed.candidates
    assert [r.status for r in await txn_rows(system, models.bank_link)] == ["active"]
    assert await txn_rows(system, models.link_review_run) == []
