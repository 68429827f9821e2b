"""The gateway's policy: the shipped file, walked operation by operation, and the pure decision it drives."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.policy import (
    SHIPPED_POLICY,
    Caller,
    Grant,
    Policy,
    PolicyError,
    Risk,
    SessionState,
    decide,
    load_policy,
    policy_for,
)
from services.gateway.routes import PUBLIC_ROUTES
from services.gateway.settings import GatewaySettings
from shared.tokens import Factor, Method

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy(SHIPPED_POLICY)


# --- the table -----------------------------------------------------------------------------------------------
# Written by hand from the guideline, not from the code. A = allow, S = step_up, D = deny, U = unavailable;
# the four letters are the risk bands: low (score 5), step-up band (50), deny band (90), fraud unavailable.
# Logins: "1f" password 10 s ago; "2f" password + SMS 10 s ago; "old" password + SMS two hours ago.
# "+grant": a Step-Up-Grant for this very operation, an SMS code verified 5 s ago.

MONEY = {  # withdrawal, charge, bank_link: a fresh factor each time, the login in the same flow, fail closed
    ("1f", False): "SSDU",
    ("1f", True): "AADU",  # the grant brings the missing class (AUTH-LOGIN-1's reverse substitution)
    ("2f", False): "SSDU",  # an MFA login is not enough: every time (AUTH-EACH-1)
    ("2f", True): "AADU",  # one fresh factor after an MFA login (AUTH-WD-1)
    ("old", False): "SSDU",
    ("old", True): "SSDU",  # two hours is not "the same flow": the password must be fresh again (AUTH-WD-1)
}
CHANGE = {  # profile_change, password_change, mfa_change: a fresh factor each time, the login of any age
    **MONEY,
    ("old", True): "AADU",  # one factor suffices when the login was MFA (AUTH-ATTR-1)
}
VIEW = {  # profile_view, kyc: MFA, by the login or by a step-up; fraud down: still served
    ("1f", False): "SSDS",  # a one-factor login must bring possession before a view (AUTH-LOGIN-1)
    ("1f", True): "AADA",
    ("2f", False): "ASDA",
    ("2f", True): "AADA",
    ("old", False): "ASDA",
    ("old", True): "AADA",
}
STAFF = {"1f": "DDDD", "2f": "AADA", "old": "AADA"}  # staff cannot step up and must act when fraud is down
OPEN = dict.fromkeys(("1f", "2f", "old"), "AADA")  # the doors to authentication: only deny applies

TABLE: dict[str, tuple[Caller, dict[tuple[str, bool], str] | dict[str, str]]] = {
    "account_open": ("anonymous", OPEN),
    "login": ("anonymous", OPEN),
    "session": ("anonymous", OPEN),
    "challenge": ("anonymous", OPEN),
    "password_reset": ("anonymous", OPEN),  # a forgotten password: the codes prove the customer, auth checks them
    "public_read": ("anonymous", OPEN),  # INC-6 (e): the published notices, nothing of anyone's
    "diagnostics": ("staff", OPEN),
    "ops_login": ("anonymous", OPEN),
    "ops_session": ("anonymous", OPEN),  # a staff session's refresh: the refresh token is the credential
    # Partner calls are not scored at the gateway: txn scores the withdrawal with its customer and fails closed.
    "atm_session": ("partner", OPEN),
    "atm_authorize": ("partner", OPEN),
    "atm_settle": ("partner", OPEN),
    "profile_view": ("customer", VIEW),
    "kyc": ("customer", VIEW),
    # A victim's report (INC-6, INC-7): MFA as for a view, never a fresh factor; it moves no money.
    "dispute": ("customer", VIEW),
    "profile_change": ("customer", CHANGE),
    "password_change": ("customer", CHANGE),
    "mfa_change": ("customer", CHANGE),
    # Removing a device (issue 16): a fresh factor for this very device every time, as for a change.
    "device_remove": ("customer", CHANGE),
    "withdrawal": ("customer", MONEY),
    "charge": ("customer", MONEY),
    "bank_link": ("customer", MONEY),
    "ops_read": ("staff", STAFF),
    "ops_write": ("staff", STAFF),
}
OUTCOME = {"A": "allow", "S": "step_up", "D": "deny", "U": "unavailable"}
BANDS: dict[str, Risk | None] = {
    "low": Risk(5, "allow"),
    "step_up band": Risk(50, "allow"),
    "deny band": Risk(90, "allow"),
    "fraud unavailable": None,
}
LOGINS = {
    "1f": (Factor.of("pwd", NOW - 10),),
    "2f": (Factor.of("pwd", NOW - 10), Factor.of("sms", NOW - 10)),
    "old": (Factor.of("pwd", NOW - 7200), Factor.of("sms", NOW - 7200)),
}
MONEY_OPS = ("withdrawal", "charge", "bank_link")
IN_FLOW_SECONDS = 1800  # "the withdrawal follows the login in one flow" (AUTH-WD-1): thirty minutes


def _walk() -> list[tuple[str, str, bool, str, str]]:
    cases = []
    for operation, (_, rows) in TABLE.items():
        for key, letters in rows.items():
            login, grant = key if isinstance(key, tuple) else (key, False)
            for band, letter in zip(BANDS, letters, strict=True):
                cases.append((operation, login, grant, band, OUTCOME[letter]))
    return cases


def _session(operation: str, login: str, grant: bool, *, kyc: bool = True) -> SessionState:
    caller = TABLE[operation][0]
    return SessionState(
        caller=caller,
        factors=LOGINS[login] if caller in ("customer", "staff") else (),
        grant=Grant(operation, Factor.of("sms", NOW - 5)) if grant else None,
        kyc_verified=kyc,
    )


@pytest.mark.req("AUTH-LOGIN-1", "AUTH-ATTR-1", "AUTH-EACH-1")  # and AUTH-WD-1, LINK-1 once their routes exist
def test_the_table_names_every_operation_type_of_the_shipped_policy_and_of_the_routes(shipped: Policy) -> None:
    assert set(TABLE) == set(shipped.operations)
    assert {route.operation for route in PUBLIC_ROUTES} <= set(TABLE)


# The gateway decides every request with this policy (enforcement.py; end to end in test_step_up.py). It also
# encodes AUTH-WD-1, LINK-1 and KYC-2 for the money and bank-link routes that the txn and kyc issues add (marker
# once those routes exist).
@pytest.mark.req("AUTH-LOGIN-1", "AUTH-ATTR-1", "AUTH-EACH-1")
@pytest.mark.parametrize(("operation", "login", "grant", "band", "expected"), _walk())
def test_the_shipped_policy_table(
    shipped: Policy, operation: str, login: str, grant: bool, band: str, expected: str
) -> None:
    decision = decide(shipped, operation, _session(operation, login, grant), BANDS[band], now=NOW)
    assert decision.outcome == expected, decision.reasons


# Encodes KYC-2, LINK-1 (marker once the kyc and txn issues' routes exist).
@pytest.mark.parametrize("operation", [op for op, (caller, _) in TABLE.items() if caller == "customer"])
def test_without_verified_identity_no_money_moves_and_no_bank_account_is_linked(
    shipped: Policy, operation: str
) -> None:
    decision = decide(shipped, operation, _session(operation, "2f", True, kyc=False), BANDS["low"], now=NOW)
    if operation in MONEY_OPS:
        assert (decision.outcome, decision.reasons, decision.status) == ("deny", ("kyc_required",), 403)
        assert decision.code == "kyc_required"
    else:
        assert decision.outcome == "allow"


# Encodes LINK-1, AUTH-WD-1 (marker once the txn issue's routes exist); and a contact change (issue 13 item 4):
# the inbox must not take the phone over.
@pytest.mark.parametrize("operation", ["withdrawal", "charge", "bank_link", "profile_change"])
def test_an_email_code_never_counts_for_money_or_a_bank_link(shipped: Policy, operation: str) -> None:
    email_grant = Grant(operation, Factor.of("email", NOW - 5))
    one_factor = SessionState("customer", LOGINS["1f"], email_grant, kyc_verified=True)
    email_login = SessionState("customer", (Factor.of("pwd", NOW - 10), Factor.of("email", NOW - 10)), None, True)
    sms_grant = Grant(operation, Factor.of("sms", NOW - 5))
    email_login_sms_grant = SessionState("customer", email_login.factors, sms_grant, kyc_verified=True)
    outcomes = [decide(shipped, operation, s, BANDS["low"], now=NOW).outcome for s in (one_factor, email_login)]
    if operation in (*MONEY_OPS, "profile_change"):
        assert outcomes == ["step_up", "step_up"]
        challenge = decide(shipped, operation, one_factor, BANDS["low"], now=NOW)
        assert challenge.factors == ("possession",)
        assert "email" not in challenge.methods
        assert "sms" in challenge.methods
    else:
        assert outcomes == ["allow", "step_up"]
    assert decide(shipped, operation, email_login_sms_grant, BANDS["low"], now=NOW).outcome == "allow"


# A recovery code (services/auth/recovery_codes.py) stands in for a lost app or phone to sign in and to enrol a new
# factor; it never moves money nor changes a contact or the password, whether it came with the login or the grant.
@pytest.mark.parametrize("operation", ["withdrawal", "charge", "bank_link", "profile_change", "password_change"])
def test_a_recovery_code_never_counts_for_money_contacts_or_the_password(shipped: Policy, operation: str) -> None:
    code_grant = Grant(operation, Factor.of("recovery_code", NOW - 5))
    recovered = (Factor.of("pwd", NOW - 10), Factor.of("recovery_code", NOW - 10))
    stepped_with_code = SessionState("customer", recovered, code_grant, kyc_verified=True)
    decision = decide(shipped, operation, stepped_with_code, BANDS["low"], now=NOW)
    assert decision.outcome == "step_up"
    assert "grant_not_counted" in decision.reasons
    assert "recovery_code" not in decision.methods
    assert "sms" in decision.methods
    sms_grant = SessionState("customer", recovered, Grant(operation, Factor.of("sms", NOW - 5)), kyc_verified=True)
    assert decide(shipped, operation, sms_grant, BANDS["low"], now=NOW).outcome == "allow"


def test_a_recovery_code_may_step_up_a_new_authenticator(shipped: Policy) -> None:
    recovered = (Factor.of("pwd", NOW - 10), Factor.of("recovery_code", NOW - 10))
    asked = decide(shipped, "mfa_change", SessionState("customer", recovered), BANDS["low"], now=NOW)
    assert asked.outcome == "step_up"
    assert "recovery_code" in asked.methods
    granted = SessionState("customer", recovered, Grant("mfa_change", Factor.of("recovery_code", NOW - 5)))
    assert decide(shipped, "mfa_change", granted, BANDS["low"], now=NOW).outcome == "allow"


@pytest.mark.req("AUTH-LOGIN-1", "AUTH-ATTR-1")
def test_two_factors_of_one_class_are_not_mfa(shipped: Policy) -> None:
    two_codes = SessionState("customer", (Factor.of("sms", NOW - 10), Factor.of("email", NOW - 10)))
    decision = decide(shipped, "profile_view", two_codes, BANDS["low"], now=NOW)
    assert (decision.outcome, decision.factors, decision.code, decision.status) == (
        "step_up",
        ("knowledge",),
        "step_up_required",
        401,
    )
    same_class_grant = SessionState("customer", LOGINS["1f"], Grant("profile_change", Factor.of("pwd", NOW - 5)))
    assert decide(shipped, "profile_change", same_class_grant, BANDS["low"], now=NOW).outcome == "step_up"


@pytest.mark.req("AUTH-EACH-1")  # and AUTH-WD-1 once the withdrawal route exists
def test_a_grant_counts_only_for_its_operation_and_while_fresh(shipped: Policy) -> None:
    stale = SessionState("customer", LOGINS["2f"], Grant("withdrawal", Factor.of("sms", NOW - 61)), True)
    other = SessionState("customer", LOGINS["2f"], Grant("charge", Factor.of("sms", NOW - 5)), True)
    future = SessionState("customer", LOGINS["2f"], Grant("withdrawal", Factor.of("sms", NOW + 60)), True)
    for session in (stale, other, future):
        decision = decide(shipped, "withdrawal", session, BANDS["low"], now=NOW)
        assert decision.outcome == "step_up"
        assert "grant_not_counted" in decision.reasons
    challenge = decide(shipped, "withdrawal", stale, BANDS["low"], now=NOW)
    assert (challenge.acr_values, challenge.max_age) == ("aal2", 60)


@pytest.mark.req("AUTH-ATTR-1")
@pytest.mark.parametrize(
    ("risk", "expected"),
    [
        (Risk(29, "allow"), "allow"),
        (Risk(30, "allow"), "step_up"),
        (Risk(0, "step_up"), "step_up"),
        (Risk(0, "review"), "step_up"),
        (Risk(84, "allow"), "step_up"),
        (Risk(85, "allow"), "deny"),
        (Risk(0, "deny"), "deny"),
    ],
)
def test_risk_thresholds_and_fraud_recommendations(shipped: Policy, risk: Risk, expected: str) -> None:
    assert shipped.operations["profile_view"].risk.model_dump() == {"step_up": 30, "deny": 85}
    session = SessionState("customer", LOGINS["2f"])
    assert decide(shipped, "profile_view", session, risk, now=NOW).outcome == expected


def test_callers_the_operation_does_not_name_and_unknown_operations_are_denied(shipped: Policy) -> None:
    staff = SessionState("staff", LOGINS["2f"])
    assert decide(shipped, "withdrawal", staff, BANDS["low"], now=NOW).reasons == ("caller_not_allowed",)
    anonymous = SessionState("anonymous")
    assert decide(shipped, "profile_view", anonymous, BANDS["low"], now=NOW).outcome == "deny"
    assert decide(shipped, "no_such_operation", anonymous, None, now=NOW).reasons == ("unknown_operation",)


def test_the_shipped_policy_binds_grants_to_key_fields_and_names_notifications(shipped: Policy) -> None:
    ops = shipped.operations
    assert ops["withdrawal"].key_fields == ("qr", "amount")
    assert ops["bank_link"].key_fields == ("bank_code", "branch_code", "account_number", "holder_kana")
    assert ops["profile_change"].key_fields == ("email", "phone", "address")
    assert ops["bank_link"].notify == "bank_account_linked"
    assert ops["device_remove"].key_fields == ("device_id",)
    assert ops["device_remove"].refuse_methods == ("email",)
    assert {name for name, op in ops.items() if op.fail_closed} == {
        "withdrawal",
        "charge",
        "bank_link",
        "profile_change",
        "password_change",
        "mfa_change",
        "device_remove",
    }


# --- the property --------------------------------------------------------------------------------------------

_METHODS: tuple[Method, ...] = get_args(Method)
_SHIPPED_FOR_PROPERTY = load_policy(SHIPPED_POLICY)
_OPS = sorted(_SHIPPED_FOR_PROPERTY.operations)
# Weighted towards the near misses (repeated entries weigh more): ages at the edges that matter (the clock
# leeway, the grant's freshness, the login's flow), passwords and possession codes, grants for this very
# operation (auth issues them for totp, sms and email), customers with verified identity, a score to decide on.
_EDGES = (5, 0, 59, 60, 61, -5, -6, 30, 600, 1799, 1800, 1801, 7200)
_LOGIN_METHODS: tuple[Method, ...] = ("pwd", "sms", "pwd", "email", "pwd", "sms", "email", "totp", "device_key", "face")
_GRANT_METHODS: tuple[Method, ...] = ("sms", "email", "totp", "sms", "email", "pwd", "device_key", "fingerprint")


@st.composite
def _factors(draw: st.DrawFn, methods: tuple[Method, ...]) -> Factor:
    edge = draw(st.sampled_from(("edge", "edge", "edge", "any")))
    age = draw(st.sampled_from(_EDGES)) if edge == "edge" else draw(st.integers(-600, 20_000))
    return Factor.of(draw(st.sampled_from(methods)), NOW - age)


@st.composite
def _requests(draw: st.DrawFn, operation: str) -> tuple[SessionState, Risk | None]:
    which = draw(st.sampled_from(("this", "this", "this", "other", "none")))
    grant_for = {"this": operation, "none": None}.get(which, draw(st.sampled_from(_OPS)))
    session = SessionState(
        caller=draw(st.sampled_from(("customer", "customer", "staff", "customer", "partner", "anonymous"))),
        factors=tuple(draw(st.lists(_factors(_LOGIN_METHODS), min_size=draw(st.sampled_from((1, 0))), max_size=3))),
        grant=None if grant_for is None else Grant(grant_for, draw(_factors(_GRANT_METHODS))),
        kyc_verified=draw(st.sampled_from((True, False, True, True))),
    )
    if draw(st.sampled_from(("score", "score", "score", "score", "none"))) == "none":
        return session, None
    score = draw(st.sampled_from((0, 5, 29, 30, 84, 85, 100)) | st.integers(0, 100))
    return session, Risk(score, draw(st.sampled_from(("allow", "allow", "allow", "step_up", "review", "deny"))))


# The same property through the whole system, on the routes that exist: test_step_up.py. Here it also covers
# the money and bank-link operations (AUTH-WD-1, LINK-1, KYC-2; marker once their routes exist).
@pytest.mark.req("AUTH-EACH-1", "AUTH-ATTR-1")
@pytest.mark.parametrize("operation", _OPS)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_no_request_without_the_required_factors_is_ever_allowed(operation: str, data: st.DataObject) -> None:
    session, risk = data.draw(_requests(operation))
    rule = _SHIPPED_FOR_PROPERTY.operations[operation]
    decision = decide(_SHIPPED_FOR_PROPERTY, operation, session, risk, now=NOW)
    if decision.outcome != "allow":
        return
    grant = session.grant
    if rule.step_up:
        assert grant is not None
        assert grant.operation == operation
        assert grant.factor.method not in rule.refuse_methods
        assert -5 <= NOW - grant.factor.at <= rule.fresh_seconds
    usable = [f for f in (*session.factors, *([grant.factor] if grant else [])) if f.method not in rule.refuse_methods]
    assert {f.cls for f in usable} >= set(rule.factors)  # by class: two codes of one class are one factor
    if rule.login_max_age and grant is not None:  # the operation follows the login in one flow (AUTH-WD-1)
        in_flow = [f for f in session.factors if f.method not in rule.refuse_methods and NOW - f.at <= IN_FLOW_SECONDS]
        assert {f.cls for f in in_flow} | {grant.factor.cls} >= set(rule.factors)
    if operation == "bank_link":
        assert any(f.cls == "possession" and f.method != "email" for f in usable)
    if operation in MONEY_OPS:
        assert session.kyc_verified
    assert risk is None or (risk.action != "deny" and risk.score < rule.risk.deny)
    assert risk is not None or not rule.fail_closed


# --- loading -------------------------------------------------------------------------------------------------

_SHIPPED_TEXT = SHIPPED_POLICY.read_text(encoding="utf-8")


def _line(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _replace_in(text: str, operation: str, old: str, new: str) -> str:
    """`old` replaced by `new` within the table of `operation` only."""
    head, sep, rest = text.partition(f"[operations.{operation}]\n")
    assert sep
    assert old in rest.split("\n[", 1)[0]
    return head + sep + rest.replace(old, new, 1)


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = _replace_in(_SHIPPED_TEXT, "charge", "fresh_seconds = 60", "fresh_seconds 60")
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.line == _line(text, "fresh_seconds 60")
    assert str(caught.value).startswith(f"{path}:{caught.value.line}: not valid TOML")


def test_an_unknown_key_names_its_line_and_the_key(tmp_path: Path) -> None:
    text = _replace_in(_SHIPPED_TEXT, "withdrawal", "step_up = true\n", "step_up = true\nfresh_secs = 10\n")
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.line == _line(text, "fresh_secs = 10")
    assert "operations.withdrawal.fresh_secs" in caught.value.reason
    assert "Extra inputs are not permitted" in caught.value.reason


@pytest.mark.parametrize(
    ("risk", "why"),
    [
        ("risk = { step_up = 30, deny = 185 }", "less than or equal to 100"),
        ("risk = { step_up = -1, deny = 85 }", "greater than or equal to 0"),
        ("risk = { step_up = 90, deny = 85 }", "must be below the deny threshold"),
    ],
)
def test_a_threshold_out_of_range_names_its_line(tmp_path: Path, risk: str, why: str) -> None:
    text = _replace_in(_SHIPPED_TEXT, "bank_link", "risk = { step_up = 30, deny = 85 }", risk)
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.line == _line(text, risk)
    assert "operations.bank_link.risk" in caught.value.reason
    assert why in caught.value.reason


def test_an_incoherent_operation_names_its_table(tmp_path: Path) -> None:
    text = _replace_in(_SHIPPED_TEXT, "mfa_change", "fresh_seconds = 60", "fresh_seconds = 0")
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.line == _line(text, "[operations.mfa_change]")
    assert "step_up needs fresh_seconds above 0" in caught.value.reason


def test_an_operation_type_missing_from_the_file_stops_loading(tmp_path: Path) -> None:
    start = _SHIPPED_TEXT.index("[operations.profile_view]")
    end = _SHIPPED_TEXT.index("[operations.kyc]")
    path = _write(tmp_path, _SHIPPED_TEXT[:start] + _SHIPPED_TEXT[end:])
    assert "profile_view" not in load_policy(path).operations
    with pytest.raises(PolicyError) as caught:
        load_policy(path, {route.operation for route in PUBLIC_ROUTES})
    assert caught.value.reason == "no policy for the operation types profile_view"
    assert str(caught.value).startswith(str(path))
    with pytest.raises(PolicyError, match="no policy for the operation types profile_view"):
        policy_for(GatewaySettings(policy_file=str(path)))


def test_policy_for_loads_the_shipped_file_by_default_and_the_configured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEKISHO_POLICY_FILE", raising=False)
    assert policy_for(GatewaySettings()) == load_policy(SHIPPED_POLICY)
    custom = _write(tmp_path, _SHIPPED_TEXT.replace("deny = 85", "deny = 80"))
    monkeypatch.setenv("SEKISHO_POLICY_FILE", str(custom))
    assert policy_for(GatewaySettings()).operations["withdrawal"].risk.deny == 80


def test_an_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "absent.toml")


@pytest.mark.req("AUTH-EACH-1")
def test_without_substitution_every_factor_must_be_as_fresh_as_the_operation(tmp_path: Path) -> None:
    strict_table = "fresh_seconds = 60\nsubstitution = false\n"
    text = _replace_in(_SHIPPED_TEXT, "mfa_change", "fresh_seconds = 60\n", strict_table)
    strict = load_policy(_write(tmp_path, text))
    grant = Grant("mfa_change", Factor.of("sms", NOW - 5))
    recent = SessionState("customer", (Factor.of("pwd", NOW - 30),), grant)
    earlier = SessionState("customer", (Factor.of("pwd", NOW - 120),), grant)
    assert decide(strict, "mfa_change", recent, BANDS["low"], now=NOW).outcome == "allow"
    challenge = decide(strict, "mfa_change", earlier, BANDS["low"], now=NOW)
    assert (challenge.outcome, challenge.factors, challenge.max_age) == ("step_up", ("knowledge",), 60)


def test_a_bad_policy_file_stops_the_gateway_at_start_up(tmp_path: Path) -> None:
    from services.gateway.app import create_app

    text = _replace_in(_SHIPPED_TEXT, "withdrawal", "fresh_seconds = 60\n", "fresh_seconds = 60\nfresh = 1\n")
    path = _write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        create_app(GatewaySettings(policy_file=str(path)))
    assert caught.value.line == _line(text, "fresh = 1")


def test_an_operation_that_fails_closed_must_be_scored(tmp_path: Path) -> None:
    text = _replace_in(_SHIPPED_TEXT, "withdrawal", "fail_closed = true\n", "fail_closed = true\nscore = false\n")
    with pytest.raises(PolicyError, match="fail_closed needs score"):
        load_policy(_write(tmp_path, text))


def test_a_login_too_old_for_a_money_operation_means_signing_in_again_not_a_challenge(shipped: Policy) -> None:
    old = SessionState("customer", LOGINS["old"], Grant("withdrawal", Factor.of("sms", NOW - 5)), kyc_verified=True)
    decision = decide(shipped, "withdrawal", old, Risk(5, "allow"), now=NOW)
    assert (decision.outcome, decision.methods, decision.max_age) == ("step_up", (), IN_FLOW_SECONDS)
    assert "sign_in_again" in decision.reasons
    fresh = SessionState("customer", LOGINS["2f"], kyc_verified=True)
    challenge = decide(shipped, "withdrawal", fresh, Risk(5, "allow"), now=NOW)
    assert (challenge.methods, challenge.max_age) == (("totp", "sms"), 60)


async def test_the_answer_to_signing_in_again_is_its_own_401_with_the_max_age(shipped: Policy) -> None:
    from services.gateway.step_up import challenge as step_up_challenge

    old = SessionState("customer", LOGINS["old"], kyc_verified=True)
    decision = decide(shipped, "withdrawal", old, Risk(5, "allow"), now=NOW)
    problem = await step_up_challenge(
        None,  # type: ignore[arg-type]  # nothing is asked of auth: no challenge can help
        decision,
        customer_id="cus_1",
        operation="withdrawal",
        fields_digest="0" * 64,
        summary={},
    )
    assert (problem.status, problem.code) == (401, "reauthentication_required")
    assert problem.headers["WWW-Authenticate"] == (
        'Bearer realm="sekisho", error="insufficient_user_authentication", acr_values="aal2", max_age=1800'
    )


def test_a_continuation_needs_the_factors_but_not_a_second_grant(shipped: Policy) -> None:
    mfa = SessionState("customer", LOGINS["2f"])
    assert decide(shipped, "mfa_change", mfa, Risk(5, "allow"), now=NOW).outcome == "step_up"
    assert decide(shipped, "mfa_change", mfa, Risk(5, "allow"), now=NOW, continuation=True).outcome == "allow"
    assert decide(shipped, "mfa_change", mfa, Risk(50, "allow"), now=NOW, continuation=True).outcome == "step_up"
    one = SessionState("customer", LOGINS["1f"])
    assert decide(shipped, "mfa_change", one, Risk(5, "allow"), now=NOW, continuation=True).outcome == "step_up"
