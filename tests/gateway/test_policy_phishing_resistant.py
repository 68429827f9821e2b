"""`phishing_resistant` in the gateway's policy: for such an operation only a passkey proves possession.

One-time codes (SMS, e-mail, an authenticator app) are typed into whatever page asks for them, a phishing site's
too; a passkey's assertion is bound by the browser to the origin it was made on. The shipped policy marks no
operation (customers have no passkeys yet); these tests mark bank_link, as an operator would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.policy import (
    SHIPPED_POLICY,
    Decision,
    Grant,
    Policy,
    PolicyError,
    Risk,
    SessionState,
    decide,
    load_policy,
)
from shared.tokens import PASSKEY_METHODS, Factor, Method

NOW = 1_800_000_000
LOW = Risk(5, "allow")


def phishing_resistant_policy(directory: Path, operation: str = "bank_link") -> Path:
    """The shipped policy with `operation` marked phishing-resistant, written to `directory`."""
    text = SHIPPED_POLICY.read_text(encoding="utf-8")
    header = f"[operations.{operation}]\n"
    marked = text.replace(header, f"{header}phishing_resistant = true\n", 1)
    assert marked != text
    path = directory / "policy.toml"
    path.write_text(marked, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    policy = load_policy(phishing_resistant_policy(tmp_path_factory.mktemp("policy")))
    assert policy.operations["bank_link"].phishing_resistant
    return policy


def session(
    login: tuple[Method, ...], grant: Method | None = None, contact_changed_at: int | None = None
) -> SessionState:
    return SessionState(
        caller="customer",
        factors=tuple(Factor.of(m, NOW - 10) for m in login),
        grant=Grant("bank_link", Factor.of(grant, NOW - 5)) if grant else None,
        kyc_verified=True,
        contact_changed_at=contact_changed_at,
    )


def bank_link(policy: Policy, state: SessionState) -> Decision:
    return decide(policy, "bank_link", state, LOW, now=NOW)


@pytest.mark.parametrize(
    ("login", "grant", "outcome"),
    [
        (("pwd", "sms"), None, "step_up"),
        (("pwd", "sms"), "sms", "step_up"),  # the code of a step-up does not count ...
        (("pwd", "totp"), "totp", "step_up"),  # ... nor an authenticator app's ...
        (("pwd", "email"), "email", "step_up"),
        (("pwd",), "sms", "step_up"),
        (("pwd", "sms"), "hwk", "allow"),  # ... a passkey does, the password counting as knowledge
        (("pwd",), "swk", "allow"),
        (("hwk", "user"), None, "step_up"),  # a passkey login still steps up every time (AUTH-EACH-1) ...
        (("hwk", "user"), "swk", "allow"),  # ... with a passkey
        (("swk", "user"), "sms", "step_up"),
    ],
)
def test_only_a_passkey_proves_possession_for_a_phishing_resistant_operation(
    marked: Policy, login: tuple[Method, ...], grant: Method | None, outcome: str
) -> None:
    decision = bank_link(marked, session(login, grant))
    assert decision.outcome == outcome, decision
    if outcome == "step_up":
        assert decision.methods == ("passkey",)  # the challenge offers nothing a phishing site could relay
        assert decision.factors == ("possession",)
    if grant is not None and grant not in PASSKEY_METHODS:
        assert "grant_not_counted" in decision.reasons


def test_the_shipped_policy_still_takes_codes_for_the_same_operation(marked: Policy) -> None:
    shipped = load_policy(SHIPPED_POLICY)
    assert not any(rule.phishing_resistant for rule in shipped.operations.values())
    assert bank_link(shipped, session(("pwd", "sms"), "sms")).outcome == "allow"
    assert bank_link(shipped, session(("pwd", "sms"))).methods == ("totp", "sms")
    # Other operations of the marked policy are untouched.
    assert decide(marked, "withdrawal", session(("pwd", "sms")), LOW, now=NOW).methods == ("totp", "sms")


def test_in_the_cool_off_after_a_contact_change_a_passkey_still_counts(marked: Policy) -> None:
    changed = NOW - 3600
    assert bank_link(marked, session(("pwd", "sms"), "hwk", contact_changed_at=changed)).outcome == "allow"
    assert bank_link(marked, session(("pwd", "sms"), "totp", contact_changed_at=changed)).outcome == "step_up"


@pytest.mark.parametrize(
    ("addition", "reason"),
    [
        ('phishing_resistant = true\nfactors = ["knowledge"]\n', "phishing_resistant needs 'possession'"),
        ('phishing_resistant = true\nrefuse_methods = ["hwk"]\n', "passkey method refused"),
    ],
)
def test_a_phishing_resistant_rule_that_nothing_could_satisfy_stops_start_up(
    tmp_path: Path, addition: str, reason: str
) -> None:
    text = SHIPPED_POLICY.read_text(encoding="utf-8")
    section = text.split("[operations.profile_view]\n", 1)
    body = section[1].replace('factors = ["knowledge", "possession"]\n', "", 1) if "factors" in addition else section[1]
    path = tmp_path / "policy.toml"
    path.write_text(section[0] + "[operations.profile_view]\n" + addition + body, encoding="utf-8")
    with pytest.raises(PolicyError, match=reason):
        load_policy(path)


_METHODS: tuple[Method, ...] = ("pwd", "sms", "email", "totp", "device_key", "hwk", "swk", "user", "face")


@settings(max_examples=300, deadline=None)
@given(
    login=st.lists(st.sampled_from(_METHODS), max_size=3),
    grant=st.sampled_from((None, *_METHODS)),
    ages=st.tuples(st.sampled_from((0, 10, 59, 61, 1799, 1801, 7200)), st.sampled_from((0, 5, 59, 61))),
)
def test_no_phishing_resistant_operation_is_allowed_without_a_passkey(
    marked: Policy, login: list[Method], grant: Method | None, ages: tuple[int, int]
) -> None:
    state = SessionState(
        caller="customer",
        factors=tuple(Factor.of(m, NOW - ages[0]) for m in login),
        grant=Grant("bank_link", Factor.of(grant, NOW - ages[1])) if grant else None,
        kyc_verified=True,
    )
    if bank_link(marked, state).outcome == "allow":
        assert state.grant is not None  # a factor for this very operation every time (AUTH-EACH-1) ...
        proved = [*state.factors, state.grant.factor]
        # ... and possession proven by a passkey, never by a code
        assert any(f.cls == "possession" and f.method in PASSKEY_METHODS for f in proved)
