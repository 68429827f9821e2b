"""The public routes the gateway answers, each owned by one service and mapped to one operation type.

Routes arrive here as the issues that build them land (API.md). Anything not listed is a 404 problem:
the gateway never forwards a path it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # template, e.g. "/v1/auth/challenges/{challenge_id}/verify"
    service: str
    operation: str
    upstream_path: str | None = None  # the path at the service, when it differs; same parameters
    timeout_seconds: float | None = None
    caller: str = "anyone"  # anyone | customer | staff (whose access token the route needs) | partner (signed)
    role: str | None = None  # for staff routes: the least role allowed (analyst < supervisor < admin)
    # True: the route finishes an operation stepped up at its start (policy.decide's `continuation`).
    continues: bool = False
    # True: the body may be up to the gateway's large_body_max_bytes instead of max_body_bytes (documents).
    large_body: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = _PARAM.sub(
            lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(self.path).replace(r"\{", "{").replace(r"\}", "}")
        )
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    def upstream(self, params: dict[str, str]) -> str:
        return (self.upstream_path or self.path).format(**params)


DIAGNOSTIC_SERVICES = ("auth", "kyc", "txn", "fraud", "notify")


def diagnostic_routes() -> tuple[Route, ...]:
    """`POST /v1/diagnostics/{service}/trace`: a request followed through the services (no customer data).
    Only when SEKISHO_DIAGNOSTICS is on, and only for admins: it shows an outsider how the inside is wired and
    lets anyone make every service do work."""
    return tuple(
        Route(
            "POST",
            f"/v1/diagnostics/{service}/trace",
            service,
            "diagnostics",
            upstream_path="/internal/trace",
            timeout_seconds=5,
            caller="staff",
            role="admin",
        )
        for service in DIAGNOSTIC_SERVICES
    )


# Incident response (INC-1..3, INC-8), answered by fraud at /internal/ops/incidents...: (method, path under
# /incidents, operation, least role, timeout). A containment or a notice of up to 10,000 customers is 20 calls of
# fraud to auth while staff wait; a PDF is drawn in a thread.
INCIDENT_ROUTES: tuple[tuple[str, str, str, str, float | None], ...] = (
    ("POST", "", "ops_write", "supervisor", None),
    ("GET", "", "ops_read", "analyst", None),
    ("GET", "/{incident_id}", "ops_read", "analyst", None),
    ("POST", "/{incident_id}/status", "ops_write", "supervisor", None),
    ("POST", "/{incident_id}/timeline", "ops_write", "analyst", None),
    ("POST", "/{incident_id}/containment", "ops_write", "supervisor", 120),
    ("GET", "/{incident_id}/customers", "ops_read", "supervisor", None),
    ("POST", "/{incident_id}/notices", "ops_write", "supervisor", 120),
    ("GET", "/{incident_id}/reports/{kind}", "ops_read", "supervisor", 30),
    ("PUT", "/{incident_id}/recurrence-prevention", "ops_write", "supervisor", None),
    ("GET", "/{incident_id}/recurrence-prevention", "ops_read", "analyst", None),
    ("GET", "/{incident_id}/training-material", "ops_read", "analyst", None),
)


def incident_routes() -> tuple[Route, ...]:
    return tuple(
        Route(
            method,
            f"/v1/ops/incidents{path}",
            "fraud",
            operation,
            caller="staff",
            role=role,
            upstream_path=f"/internal/ops/incidents{path}",
            timeout_seconds=timeout,
        )
        for method, path, operation, role, timeout in INCIDENT_ROUTES
    )


# Answered by the gateway itself (partners_api.py), outside the policy: it moves nothing. It passes the same
# controls as every partner route, under an operation of its own that a kill switch can stop, for all partners
# or for one.
PING = Route("POST", "/v1/atm/ping", "gateway", "atm_ping", caller="partner")

PUBLIC_ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/accounts", "auth", "account_open"),
    Route("POST", "/v1/auth/login", "auth", "login"),
    Route("POST", "/v1/auth/refresh", "auth", "session"),
    Route("POST", "/v1/auth/logout", "auth", "session"),
    Route("POST", "/v1/auth/challenges/{challenge_id}/send", "auth", "challenge"),
    # A forgotten password (auth's password_reset.py): anyone may ask, the codes prove the customer.
    Route("POST", "/v1/auth/password-reset", "auth", "password_reset"),
    Route("POST", "/v1/auth/password-reset/{reset_id}/send", "auth", "password_reset"),
    Route("POST", "/v1/auth/password-reset/{reset_id}/verify", "auth", "password_reset"),
    Route("POST", "/v1/auth/password-reset/{reset_id}/complete", "auth", "password_reset"),
    Route("POST", "/v1/auth/challenges/{challenge_id}/verify", "auth", "challenge"),
    Route("POST", "/v1/auth/totp", "auth", "mfa_change", caller="customer"),
    # The confirm needs the secret that only the stepped-up start gave: one step-up per enrolment.
    Route("POST", "/v1/auth/totp/confirm", "auth", "mfa_change", caller="customer", continues=True),
    # Passkeys (WebAuthn): registering one is an MFA change stepped up at its start, like an authenticator app; the
    # browser's answer finishes it. A rename changes only the customer's label: a view's rules (an MFA session).
    Route("POST", "/v1/me/passkeys/registration", "auth", "mfa_change", caller="customer"),
    Route(
        "POST",
        "/v1/me/passkeys/registration/{registration_id}",
        "auth",
        "mfa_change",
        caller="customer",
        continues=True,
    ),
    Route("GET", "/v1/me/passkeys", "auth", "profile_view", caller="customer"),
    Route("PATCH", "/v1/me/passkeys/{passkey_id}", "auth", "profile_view", caller="customer"),
    Route("DELETE", "/v1/me/passkeys/{passkey_id}", "auth", "mfa_change", caller="customer"),
    # A passkey login: a door to authentication like the password login (anonymous, the same operation).
    Route("POST", "/v1/auth/passkeys/options", "auth", "login"),
    Route("POST", "/v1/auth/passkeys/login", "auth", "login"),
    Route("GET", "/v1/me", "auth", "profile_view", caller="customer"),
    Route("PATCH", "/v1/me", "auth", "profile_change", caller="customer"),
    # The code sent to the new e-mail address or phone: finishes the change stepped up at the PATCH.
    Route("POST", "/v1/me/contacts/{change_id}/verify", "auth", "profile_change", caller="customer", continues=True),
    Route("PUT", "/v1/me/password", "auth", "password_change", caller="customer"),
    Route("GET", "/v1/me/devices", "auth", "profile_view", caller="customer"),
    # Ends the device's sessions at once; stepped up for this very device (issue 16).
    Route("DELETE", "/v1/me/devices/{device_id}", "auth", "device_remove", caller="customer"),
    # Recovery codes: how many are left is a view; a new set is a factor change (a fresh step-up every time).
    Route("GET", "/v1/me/recovery-codes", "auth", "profile_view", caller="customer"),
    Route("POST", "/v1/me/recovery-codes", "auth", "mfa_change", caller="customer"),
    Route("GET", "/v1/me/account", "txn", "profile_view", caller="customer"),
    Route("GET", "/v1/me/transactions", "txn", "profile_view", caller="customer"),
    # Disputes (INC-6, INC-7): a victim reports transactions that were not theirs and declares they will not bear the
    # debt; reading them back is a view of the customer's own data.
    Route("POST", "/v1/me/disputes", "txn", "dispute", caller="customer"),
    Route("GET", "/v1/me/disputes", "txn", "profile_view", caller="customer"),
    Route("GET", "/v1/me/disputes/{dispute_id}", "txn", "profile_view", caller="customer"),
    Route("POST", "/v1/me/disputes/{dispute_id}/declaration", "txn", "dispute", caller="customer"),
    # Identity proofing (KYC-1): the eKYC submission carries four document and selfie images.
    Route("POST", "/v1/kyc/verifications", "kyc", "kyc", caller="customer", large_body=True),
    Route("GET", "/v1/kyc/verifications/{verification_id}", "kyc", "kyc", caller="customer"),
    Route("POST", "/v1/kyc/verifications/{verification_id}/postal-code", "kyc", "kyc", caller="customer"),
    Route("POST", "/v1/kyc/verifications/{verification_id}/jpki-signature", "kyc", "kyc", caller="customer"),
    # Money and bank links (txn): the gateway decides first (KYC-2, AUTH-WD-1, LINK-1), so nothing reaches txn that
    # the policy did not allow; txn checks KYC, limits and fraud's score again before money moves.
    Route("POST", "/v1/withdrawals", "txn", "withdrawal", caller="customer"),
    Route("POST", "/v1/bank-links", "txn", "bank_link", caller="customer"),
    Route("POST", "/v1/charges", "txn", "charge", caller="customer"),
    # Partner ATM networks (signed, RFC 9421): the ATM session and its QR, the authorization, its end.
    Route("POST", "/v1/atm/sessions", "txn", "atm_session", caller="partner"),
    Route("POST", "/v1/atm/withdrawals/authorize", "txn", "atm_authorize", caller="partner"),
    Route("POST", "/v1/atm/withdrawals/{authorization_id}/complete", "txn", "atm_settle", caller="partner"),
    Route("POST", "/v1/atm/withdrawals/{authorization_id}/reverse", "txn", "atm_settle", caller="partner"),
    Route("POST", "/v1/ops/auth/login", "auth", "ops_login"),
    # Staff answer their TOTP challenge here, never at the customer `challenge` route: a kill switch on
    # `challenge`, a customer IP rule or fraud's IP list must not lock every staff member out (ops_login cannot
    # be switched off, and only ops IP rules apply to /v1/ops/).
    Route("POST", "/v1/ops/auth/challenges/{challenge_id}/verify", "auth", "ops_login"),
    Route("POST", "/v1/ops/auth/logout", "auth", "ops_login", caller="staff", role="analyst"),
    # A shift's session goes on with its refresh token (no access token needed: it may have just expired).
    Route("POST", "/v1/ops/auth/refresh", "auth", "ops_session"),
    # A staff member's own passkeys, to sign in with instead of a TOTP code (auth asks for a fresh sign-in to change
    # them); reads and writes like any staff action, so the session's two factors are checked here first.
    Route("POST", "/v1/ops/auth/passkeys/registration", "auth", "ops_write", caller="staff", role="analyst"),
    Route(
        "POST",
        "/v1/ops/auth/passkeys/registration/{registration_id}",
        "auth",
        "ops_write",
        caller="staff",
        role="analyst",
    ),
    Route("GET", "/v1/ops/auth/passkeys", "auth", "ops_read", caller="staff", role="analyst"),
    Route("DELETE", "/v1/ops/auth/passkeys/{passkey_id}", "auth", "ops_write", caller="staff", role="analyst"),
    # A POST so that the e-mail address or phone number searched sits in the body, never in a URL or access log.
    Route("POST", "/v1/ops/customers/search", "auth", "ops_read", caller="staff", role="analyst"),
    Route("GET", "/v1/ops/customers/{customer_id}", "auth", "ops_read", caller="staff", role="analyst"),
    Route("POST", "/v1/ops/customers/{customer_id}/lock", "auth", "ops_write", caller="staff", role="supervisor"),
    Route("POST", "/v1/ops/customers/{customer_id}/unlock", "auth", "ops_write", caller="staff", role="supervisor"),
    Route(
        "POST",
        "/v1/ops/customers/{customer_id}/sessions/revoke",
        "auth",
        "ops_write",
        caller="staff",
        role="supervisor",
    ),
    Route(
        "PUT",
        "/v1/ops/customers/{customer_id}/credit-line",
        "txn",
        "ops_write",
        caller="staff",
        role="supervisor",
    ),
    # Disputes at the consultation desk (INC-6 (a): staff open one for a victim who calls), the victim's declaration,
    # and the decision the relief policy reserves to supervisors (INC-7); the credit information relief flags.
    Route("POST", "/v1/ops/disputes", "txn", "ops_write", caller="staff", role="analyst"),
    Route("GET", "/v1/ops/disputes", "txn", "ops_read", caller="staff", role="analyst"),
    Route("GET", "/v1/ops/disputes/{dispute_id}", "txn", "ops_read", caller="staff", role="analyst"),
    Route("POST", "/v1/ops/disputes/{dispute_id}/declaration", "txn", "ops_write", caller="staff", role="analyst"),
    Route("POST", "/v1/ops/disputes/{dispute_id}/relief", "txn", "ops_write", caller="staff", role="supervisor"),
    Route("POST", "/v1/ops/disputes/{dispute_id}/reject", "txn", "ops_write", caller="staff", role="supervisor"),
    Route("GET", "/v1/ops/credit-information", "txn", "ops_read", caller="staff", role="analyst"),
    Route(
        "POST",
        "/v1/ops/disputes/{dispute_id}/credit-information-deletion",
        "txn",
        "ops_write",
        caller="staff",
        role="supervisor",
    ),
    # INC-6 (e) 公表: a supervisor publishes a notice of a fraud case; anyone reads the published ones.
    Route("POST", "/v1/ops/publications", "txn", "ops_write", caller="staff", role="supervisor"),
    Route("GET", "/v1/notices", "txn", "public_read"),
    # LINK-4: links and charges suspended per bank.
    Route("PUT", "/v1/ops/banks/{bank_code}/suspension", "txn", "ops_write", caller="staff", role="supervisor"),
    Route("GET", "/v1/ops/banks/suspensions", "txn", "ops_read", caller="staff", role="analyst"),
    Route("GET", "/v1/ops/audit", "auth", "ops_read", caller="staff", role="admin"),
    Route("POST", "/v1/ops/staff/{staff_id}/unlock", "auth", "ops_write", caller="staff", role="admin"),
    Route(
        "GET",
        "/v1/ops/notifications",
        "notify",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/notifications",
    ),
    Route(
        "GET",
        "/v1/ops/notifications/{notification_id}",
        "notify",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/notifications/{notification_id}",
    ),
    Route("GET", "/v1/ops/kyc/verifications", "kyc", "ops_read", caller="staff", role="analyst"),
    Route("GET", "/v1/ops/kyc/verifications/{verification_id}", "kyc", "ops_read", caller="staff", role="analyst"),
    Route(
        "POST",
        "/v1/ops/kyc/verifications/{verification_id}/approve",
        "kyc",
        "ops_write",
        caller="staff",
        role="analyst",
    ),
    Route(
        "POST",
        "/v1/ops/kyc/verifications/{verification_id}/reject",
        "kyc",
        "ops_write",
        caller="staff",
        role="analyst",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/events",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/events",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/trends",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/trends",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/lists/{list}/entries",
        "fraud",
        "ops_read",
        caller="staff",
        role="supervisor",
        upstream_path="/internal/ops/lists/{list}/entries",
    ),
    Route(
        "PUT",
        "/v1/ops/fraud/lists/{list}/entries",
        "fraud",
        "ops_write",
        caller="staff",
        role="supervisor",
        upstream_path="/internal/ops/lists/{list}/entries",
    ),
    Route(
        "DELETE",
        "/v1/ops/fraud/lists/{list}/entries",
        "fraud",
        "ops_write",
        caller="staff",
        role="supervisor",
        upstream_path="/internal/ops/lists/{list}/entries",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/indicators",
        "fraud",
        "ops_read",
        caller="staff",
        role="supervisor",
        upstream_path="/internal/ops/indicators",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/cases",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/cases",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/cases/{case_id}",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/cases/{case_id}",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/cases/{case_id}/assign",
        "fraud",
        "ops_write",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/cases/{case_id}/assign",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/cases/{case_id}/comments",
        "fraud",
        "ops_write",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/cases/{case_id}/comments",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/cases/{case_id}/status",
        "fraud",
        "ops_write",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/cases/{case_id}/status",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/cases/{case_id}/resolve",
        "fraud",
        "ops_write",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/cases/{case_id}/resolve",
    ),
    # The consultation desk (INC-5): fraud keeps the inquiries beside the events and cases they are checked against.
    Route(
        "POST",
        "/v1/ops/inquiries",
        "fraud",
        "ops_write",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/inquiries",
    ),
    Route(
        "GET",
        "/v1/ops/inquiries",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/inquiries",
    ),
    Route(
        "GET",
        "/v1/ops/inquiries/{inquiry_id}",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/inquiries/{inquiry_id}",
    ),
    Route(
        "POST",
        "/v1/ops/inquiries/{inquiry_id}/answers",
        "fraud",
        "ops_write",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/inquiries/{inquiry_id}/answers",
    ),
    Route(
        "POST",
        "/v1/ops/inquiries/{inquiry_id}/status",
        "fraud",
        "ops_write",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/inquiries/{inquiry_id}/status",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/suppressions",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/suppressions",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/suppressions",
        "fraud",
        "ops_write",
        caller="staff",
        role="supervisor",
        upstream_path="/internal/ops/suppressions",
    ),
    Route(
        "DELETE",
        "/v1/ops/fraud/suppressions/{suppression_id}",
        "fraud",
        "ops_write",
        caller="staff",
        role="supervisor",
        upstream_path="/internal/ops/suppressions/{suppression_id}",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/rule-sets",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/rule-sets",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/rule-sets",
        "fraud",
        "ops_write",
        caller="staff",
        role="supervisor",
        upstream_path="/internal/ops/rule-sets",
    ),
    Route(
        "GET",
        "/v1/ops/fraud/rule-sets/{version}",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/rule-sets/{version}",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/rule-sets/{version}/activate",
        "fraud",
        "ops_write",
        caller="staff",
        role="admin",
        upstream_path="/internal/ops/rule-sets/{version}/activate",
    ),
    Route(
        "POST",
        "/v1/ops/fraud/rule-sets/{version}/backtest",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/rule-sets/{version}/backtest",
        timeout_seconds=120,  # a replay of up to 31 days of events
    ),
    Route(
        "GET",
        "/v1/ops/fraud/rules/library",
        "fraud",
        "ops_read",
        caller="staff",
        role="analyst",
        upstream_path="/internal/ops/rules/library",
    ),
    *incident_routes(),
)


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    params: dict[str, str]


class RouteTable:
    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._static: dict[str, list[Route]] = {}
        self._dynamic: list[Route] = []
        for route in routes:
            if "{" in route.path:
                self._dynamic.append(route)
            else:
                self._static.setdefault(route.path, []).append(route)

    def match(self, method: str, path: str) -> RouteMatch | list[str] | None:
        """The route for this request; or the methods the path allows (405); or None (404)."""
        allowed: list[str] = []
        for route in self._static.get(path, ()):
            if route.method == method:
                return RouteMatch(route, {})
            allowed.append(route.method)
        for route in self._dynamic:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return RouteMatch(route, found.groupdict())
            allowed.append(route.method)
        return allowed or None
