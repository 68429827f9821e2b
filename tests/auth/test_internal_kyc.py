"""auth's routes for kyc: the declared identity and the contacts, answered to kyc alone."""

from __future__ import annotations

from sekisho.sinks import SmsSink
from shared.contracts.identity import CustomerContacts, DeclaredIdentity, KycStatus
from shared.middleware import IDENTITY_HEADER
from tests.auth.conftest import CUSTOMER, open_account
from tests.harness import System, client_for, identity_issuer


async def test_kyc_reads_the_declared_identity_and_contacts_and_no_other_service_can(
    system: System, sms: SmsSink
) -> None:
    customer_id = await open_account(system.gateway)
    async with client_for(system.apps["auth"], base_url="http://127.0.0.1:8001") as auth:
        # The contacts are txn's too (where its notices go); the declared identity is kyc's alone.
        for path, others in (
            (f"/internal/customers/{customer_id}/declared-identity", ("gateway", "txn", "fraud")),
            (f"/internal/customers/{customer_id}/contacts", ("gateway", "fraud")),
        ):
            for service in others:
                refused = await auth.get(
                    path, headers={IDENTITY_HEADER: identity_issuer(service, system.clock).issue("auth")}
                )
                assert refused.status_code == 403, (service, refused.text)
                assert CUSTOMER["name"] not in refused.text
        as_kyc = {IDENTITY_HEADER: identity_issuer("kyc", system.clock).issue("auth")}
        declared = DeclaredIdentity.model_validate_json(
            (await auth.get(f"/internal/customers/{customer_id}/declared-identity", headers=as_kyc)).content
        )
        assert (declared.name, declared.name_kana, declared.birth_date.isoformat(), declared.address) == (
            CUSTOMER["name"],
            CUSTOMER["name_kana"],
            CUSTOMER["birth_date"],
            CUSTOMER["address"],
        )
        contacts = CustomerContacts.model_validate_json(
            (await auth.get(f"/internal/customers/{customer_id}/contacts", headers=as_kyc)).content
        )
        assert (contacts.email, contacts.phone) == (CUSTOMER["email"], "+819012345678")
        missing = await auth.get("/internal/customers/cus_00000000000000000000000000/declared-identity", headers=as_kyc)
        assert missing.status_code == 404
        assert missing.json()["code"] == "customer_not_found"


async def test_kyc_and_txn_read_the_kyc_status_and_no_other_service_can(system: System) -> None:
    customer_id = await open_account(system.gateway)
    path = f"/internal/customers/{customer_id}/kyc"
    async with client_for(system.apps["auth"], base_url="http://127.0.0.1:8001") as auth:
        as_txn = {IDENTITY_HEADER: identity_issuer("txn", system.clock).issue("auth")}
        assert (await auth.get(path, headers=as_txn)).json()["status"] == "unverified"  # before money moves
        for service in ("gateway", "fraud", "notify"):
            refused = await auth.get(
                path, headers={IDENTITY_HEADER: identity_issuer(service, system.clock).issue("auth")}
            )
            assert refused.status_code == 403, (service, refused.text)
        as_kyc = {IDENTITY_HEADER: identity_issuer("kyc", system.clock).issue("auth")}
        status = KycStatus.model_validate_json((await auth.get(path, headers=as_kyc)).content)
        assert (status.customer_id, status.status, status.verified_at) == (customer_id, "unverified", None)
        missing = await auth.get("/internal/customers/cus_00000000000000000000000000/kyc", headers=as_kyc)
        assert (missing.status_code, missing.json()["code"]) == (404, "customer_not_found")
