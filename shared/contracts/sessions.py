"""gateway → auth: the keys that verify access tokens, and whether a session still stands.

- `GET /internal/keys` (auth; only the gateway calls it) → `PublicKeys`.
- `GET /internal/sessions/{session_id}` (auth; only the gateway calls it) → `SessionState`: the gateway believes
  the answer for a few seconds (services/gateway/bearer.py).
- `Sekisho-Sessions-Ended: ses_a,ses_b` on auth's answer to a public route: sessions that answer ended, which the
  gateway that forwarded it refuses from then on (never returned to the caller). It can only end sessions, never
  revive one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SESSIONS_ENDED_HEADER = "sekisho-sessions-ended"


class PublicKeys(BaseModel):
    model_config = ConfigDict(frozen=True)

    keys: dict[str, str]  # key id -> public key (PEM)


class SessionState(BaseModel):
    model_config = ConfigDict(frozen=True)

    active: bool
    subject_type: str | None = None
    # When the session's customer last changed e-mail or phone, or reset the password: the later of the two (Unix
    # seconds; None: never, or not a customer). Money waits the gateway's contact-change cool-off after either.
    contact_changed_at: int | None = None
    # The customer's KYC status (shared/contracts/identity.KycState; None: not a customer).
    kyc_status: str | None = None
