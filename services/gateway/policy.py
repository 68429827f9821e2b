"""The gateway's policy: per operation type, what a caller must prove at which risk, read from one declarative file.

`load_policy` reads and validates the file at start-up (a bad file raises `PolicyError` with the file, the
line and the reason); `decide` is the pure rule applied to each request: allow, step up (RFC 9470), deny,
or unavailable when fraud cannot score an operation that fails closed.

The guideline (JFSA 2(2)) counts factors by class: two codes of one class are still one factor, so MFA is
two different classes. Its substitutions are expressed per operation: the login's factors count towards the
operation's classes (one fresh factor suffices after an MFA login; after a one-factor login the step-up must
bring the missing class), within `login_max_age` where the operation must follow the login in one flow.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.gateway.routes import PUBLIC_ROUTES, diagnostic_routes
from services.gateway.settings import GatewaySettings
from shared.tokens import LEEWAY_SECONDS, METHOD_CLASSES, PASSKEY_METHODS, Factor, FactorClass, Method

SHIPPED_POLICY = Path(__file__).with_name("policy.toml")

Caller = Literal["customer", "staff", "partner", "anonymous"]
# fraud's recommended actions (services/fraud/rules.py), repeated here: the gateway imports no other service.
RiskAction = Literal["allow", "step_up", "review", "deny"]
Outcome = Literal["allow", "step_up", "deny", "unavailable"]
# The notifications notify knows (shared/contracts/notifications.py EventType) that an operation can set off.
Notification = Literal[
    "login",
    "login_new_device",
    "withdrawal_completed",
    "attribute_changed",
    "password_changed",
    "mfa_changed",
    "bank_account_linked",
    "device_removed",
]
Score = Annotated[int, Field(ge=0, le=100)]
OperationName = Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,31}$")]


class PolicyError(Exception):
    """The policy file cannot be used: `path`, `line` (None when no line is to blame) and `reason`."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskThresholds(_Strict):
    """Scores (0-100) at or above which to step up and to deny; no `step_up`: no step-up band."""

    step_up: Score | None = None
    deny: Score

    @model_validator(mode="after")
    def _step_up_below_deny(self) -> RiskThresholds:
        if self.step_up is not None and self.step_up >= self.deny:
            raise ValueError(f"the step-up threshold ({self.step_up}) must be below the deny threshold ({self.deny})")
        return self


class OperationPolicy(_Strict):
    callers: tuple[Caller, ...] = Field(min_length=1)
    factors: tuple[FactorClass, ...]
    step_up: bool = False
    fresh_seconds: int = Field(default=0, ge=0, le=3600)
    substitution: bool = True
    login_max_age: int = Field(default=0, ge=0, le=86_400)
    refuse_methods: tuple[Method, ...] = ()
    contact_change_cool_off_seconds: int = Field(default=0, ge=0, le=30 * 86_400)
    possession_required: bool = False
    phishing_resistant: bool = False
    kyc_required: bool = False
    fail_closed: bool = False
    score: bool = True
    risk: RiskThresholds
    key_fields: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")], ...] = ()
    notify: Notification | None = None

    @model_validator(mode="after")
    def _coherent(self) -> OperationPolicy:
        if len(set(self.factors)) != len(self.factors):
            raise ValueError("a factor class is listed twice")
        needs_factors = self.step_up or self.possession_required or self.risk.step_up is not None
        if needs_factors and not self.factors:
            raise ValueError("step_up, possession_required and a risk step_up threshold need factors")
        if (self.step_up or self.risk.step_up is not None) and "customer" not in self.callers:
            raise ValueError(
                "only customers can step up: step_up and a risk step_up threshold need the customer caller"
            )
        if self.step_up and self.fresh_seconds == 0:
            raise ValueError("step_up needs fresh_seconds above 0")
        if not self.substitution and self.fresh_seconds == 0 and self.factors:
            raise ValueError("without substitution, fresh_seconds must say how fresh every factor must be")
        if self.contact_change_cool_off_seconds and ("customer" not in self.callers or "totp" in self.refuse_methods):
            raise ValueError(
                "a contact-change cool-off is lifted by a customer's TOTP step-up: it needs the customer "
                "caller and totp not refused"
            )
        if self.fail_closed and not self.score:
            raise ValueError("fail_closed needs score: only a score that cannot be had can fail closed")
        if self.possession_required and "possession" not in self.factors:
            raise ValueError("possession_required needs 'possession' among the factors")
        if self.phishing_resistant and "possession" not in self.factors:
            raise ValueError("phishing_resistant needs 'possession' among the factors: it says which possession counts")
        if self.phishing_resistant and self.refuse_methods and set(self.refuse_methods) & PASSKEY_METHODS:
            raise ValueError("phishing_resistant with a passkey method refused: nothing could prove the operation")
        if self.possession_required and all(
            m in self.refuse_methods for m, cls in METHOD_CLASSES.items() if cls == "possession"
        ):
            raise ValueError("refuse_methods refuses every possession method")
        return self


class Policy(_Strict):
    version: Literal[1]
    operations: dict[OperationName, OperationPolicy] = Field(min_length=1)


# --- loading -----------------------------------------------------------------------------------------------

_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def load_policy(path: Path | str, operations: Iterable[str] | None = None) -> Policy:
    """The policy in `path`, validated; with `operations`, also checked to cover every one of them."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(path, None, f"cannot be read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise PolicyError(path, int(found.group(1)) if found else None, f"not valid TOML: {exc}") from exc
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(part) for part in first["loc"])
        where = ".".join(loc) or "the file"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PolicyError(path, _line_of(text, loc), f"{where}: {first['msg']}{more}") from exc
    if operations is not None:
        check_covers(policy, operations, path=path)
    return policy


def check_covers(policy: Policy, operations: Iterable[str], *, path: Path | str = "policy") -> None:
    """Every operation type of a public route has a policy: the gateway never guesses one."""
    missing = sorted(set(operations) - set(policy.operations))
    if missing:
        raise PolicyError(Path(path), None, f"no policy for the operation types {', '.join(missing)}")


def _line_of(text: str, loc: tuple[str, ...]) -> int | None:
    """Best effort: the line of the key the error names, following its tables (`[operations.<name>]`, a
    sub-table such as `[operations.<name>.risk]`, or an inline table on the key's own line)."""
    lines = [line.split("#", 1)[0] for line in text.splitlines()]

    def header(table: str) -> int | None:
        pattern = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
        return next((i for i, line in enumerate(lines) if pattern.match(line)), None)

    def key_in(first: int, last: int, key: str) -> int | None:
        pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}\s*=")
        return next((i for i in range(first, last) if pattern.search(lines[i])), None)

    keys = [part for part in loc if not part.isdigit()]
    table, current, inline = "", None, False
    for depth, key in enumerate(keys):
        if inline:  # deeper keys of an inline table sit on the same line
            break
        sub = header(f"{table}.{key}" if table else key)
        if sub is not None:
            table, current = (f"{table}.{key}" if table else key), sub
            continue
        start = 0 if current is None else current + 1
        end = next((i for i in range(start, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        found = key_in(start, end, key)
        if found is None:  # a table only named in deeper headers, like `operations` in [operations.login]
            table = f"{table}.{key}" if table else key
            continue
        current, inline = found, depth < len(keys) - 1
    return None if current is None else current + 1


def policy_for(settings: GatewaySettings, operations: Iterable[str] | None = None) -> Policy:
    """The policy the settings name (the shipped file by default), checked to cover every operation type of the
    routes (by default the public routes)."""
    if operations is None:
        operations = {route.operation for route in PUBLIC_ROUTES + diagnostic_routes()}
    return load_policy(settings.policy_file or SHIPPED_POLICY, operations)


# --- deciding ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """A step-up grant the wiring redeemed at auth: the factor it proves, for `operation` and its key fields."""

    operation: str
    factor: Factor


@dataclass(frozen=True)
class SessionState:
    caller: Caller
    factors: tuple[Factor, ...] = ()  # the access token's amr
    grant: Grant | None = None
    kyc_verified: bool = False
    # When the customer's e-mail or phone last changed or the password was reset (Unix seconds, from auth's session
    # check), if ever.
    contact_changed_at: int | None = None


@dataclass(frozen=True)
class Risk:
    score: int
    action: RiskAction


@dataclass(frozen=True)
class Decision:
    """The answer for one request. For `step_up`: the classes the client must bring (`factors`), the RFC 9470
    `acr_values` and `max_age` for WWW-Authenticate, and the methods a challenge may offer; no methods: what is
    missing is not a possession factor, so the customer must sign in again (max_age: how recent that must be)."""

    outcome: Outcome
    reasons: tuple[str, ...] = ()
    factors: tuple[FactorClass, ...] = ()
    acr_values: str | None = None
    max_age: int | None = None
    methods: tuple[ChallengeMethod, ...] = ()

    @property
    def status(self) -> int:
        return {"allow": 200, "step_up": 401, "deny": 403, "unavailable": 503}[self.outcome]

    @property
    def code(self) -> str | None:
        if self.outcome == "deny" and self.reasons == ("kyc_required",):
            return "kyc_required"  # KYC-2: its own code, so that the client sends the customer to identity proofing
        return {"allow": None, "step_up": "step_up_required", "deny": "operation_denied"}.get(
            self.outcome, "service_unavailable"
        )


_CLASS_ORDER: tuple[FactorClass, ...] = get_args(FactorClass)
# What auth's step-up challenges can verify (POST /v1/auth/challenges/{id}/verify): possession factors. A missing
# knowledge or inherence factor cannot be brought by a challenge: the customer signs in again.
ChallengeMethod = Literal["totp", "sms", "email", "recovery_code", "passkey"]
CHALLENGE_METHODS: tuple[ChallengeMethod, ...] = ("totp", "sms", "email", "recovery_code")
# Where the operation is phishing-resistant, the one challenge method that can answer (its grant's factor is the
# passkey's hwk or swk).
PHISHING_RESISTANT_METHODS: tuple[ChallengeMethod, ...] = ("passkey",)


def counts_for(rule: OperationPolicy, factor: Factor) -> bool:
    """Whether the method may count for this operation at all: not refused, and where the operation is
    phishing-resistant, a possession factor only from a passkey (a one-time code by SMS, e-mail or an authenticator
    app is typed into whatever page asks for it, a phishing site's too; the password still counts as knowledge)."""
    if factor.method in rule.refuse_methods:
        return False
    return not (rule.phishing_resistant and factor.cls == "possession" and factor.method not in PASSKEY_METHODS)


def _is_fresh(factor: Factor, now: float, max_age: int) -> bool:
    """At most `max_age` seconds old (0: any age); a factor from beyond the clock leeway is not believed."""
    age = now - factor.at
    return age >= -LEEWAY_SECONDS and (max_age == 0 or age <= max_age)


def decide(
    policy: Policy,
    operation: str,
    session: SessionState,
    risk: Risk | None,
    *,
    now: float,
    continuation: bool = False,
) -> Decision:
    """What the caller must prove for `operation` at this risk; `now` in Unix seconds. Pure: no I/O.

    `continuation`: the request finishes an operation stepped up at its start (the confirm of an authenticator
    enrolment, which needs the secret only the stepped-up start gave): the factors still count, the per-operation
    grant does not apply again, a risky request still steps up.

    Within the operation's `contact_change_cool_off_seconds` after the customer's e-mail or phone changed or the
    password was reset (`session.contact_changed_at`: auth reports the later of the two), only a TOTP grant for this
    very operation counts, and the challenge offers TOTP alone: the phone that answers SMS codes may be the one just
    registered by an attacker (or, after a reset, a swapped SIM)."""
    rule = policy.operations.get(operation)
    if rule is None:
        return Decision("deny", ("unknown_operation",))
    if session.caller not in rule.callers:
        return Decision("deny", ("caller_not_allowed",))
    if rule.kyc_required and not session.kyc_verified:
        return Decision("deny", ("kyc_required",))  # KYC-2: no step-up can replace identity proofing

    reasons: list[str] = []
    risky = False
    if risk is None:
        if rule.fail_closed:
            return Decision("unavailable", ("risk_unavailable",))
        reasons.append("risk_unavailable")
    else:
        if risk.action == "deny" or risk.score >= rule.risk.deny:
            return Decision("deny", ("risk_deny",))
        if rule.risk.step_up is not None and (risk.score >= rule.risk.step_up or risk.action in ("step_up", "review")):
            risky = True
            reasons.append("risk_step_up")

    if not rule.factors:
        return Decision("allow", tuple(reasons))

    cooling = (
        rule.contact_change_cool_off_seconds > 0
        and session.contact_changed_at is not None
        and now - session.contact_changed_at < rule.contact_change_cool_off_seconds
    )
    if cooling:
        reasons.append("contact_change_cool_off")
    counted = [
        f
        for f in session.factors
        if counts_for(rule, f) and _is_fresh(f, now, rule.login_max_age if rule.substitution else rule.fresh_seconds)
    ]
    grant = session.grant
    grant_ok = (
        grant is not None
        and grant.operation == operation
        and counts_for(rule, grant.factor)
        and _is_fresh(grant.factor, now, rule.fresh_seconds)
        # In the cool-off after a contact change only the authenticator app or a passkey: the new phone may be the
        # attacker's.
        and (not cooling or grant.factor.method == "totp" or grant.factor.method in PASSKEY_METHODS)
    )
    if grant is not None and grant_ok:
        counted.append(grant.factor)
    elif grant is not None:
        reasons.append("grant_not_counted")

    have = {f.cls for f in counted}
    missing = tuple(c for c in _CLASS_ORDER if c in rule.factors and c not in have)
    if missing:
        reasons.append("factor_missing")
    if rule.possession_required and "possession" not in have:
        reasons.append("possession_missing")
    every_time = rule.step_up and not continuation
    needs_grant = (every_time or risky or cooling) and not grant_ok
    if needs_grant:
        reasons.append("step_up_required" if every_time else "risk_requires_step_up")
    if not (missing or needs_grant or (rule.possession_required and "possession" not in have)):
        return Decision("allow", tuple(reasons))
    if session.caller != "customer":
        return Decision("deny", (*reasons, "cannot_step_up"))

    bring = missing or (("possession",) if "possession" in rule.factors else rule.factors)
    by_challenge = all(c == "possession" for c in bring)
    offered: tuple[ChallengeMethod, ...] = (
        PHISHING_RESISTANT_METHODS if rule.phishing_resistant else ("totp",) if cooling else CHALLENGE_METHODS
    )
    methods = tuple(m for m in offered if m not in rule.refuse_methods) if by_challenge else ()
    if not by_challenge:
        reasons.append("sign_in_again")
    return Decision(
        "step_up",
        tuple(reasons),
        factors=bring,
        acr_values="aal2" if len(rule.factors) >= 2 else "aal1",
        max_age=(rule.login_max_age if not by_challenge and rule.substitution else rule.fresh_seconds) or None,
        methods=methods,
    )
