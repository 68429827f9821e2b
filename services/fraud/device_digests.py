"""What staff see of a device: a digest of its key, never the key itself.

The app's device key is what auth recognises a known phone by: a key and a password log in without the
new-device check. So every ops view of fraud (events, cases' linked devices, suppressions, indicators) shows
`sha256:` and the first 32 hex digits of the key's SHA-256 instead, and a search by device accepts the digest.
Plain SHA-256 rather than a keyed digest: another company can compute the same digest of the keys it has seen,
so shared indicators still match, while the key (random per install) cannot be recovered from it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from shared.ids import is_id

PREFIX = "sha256:"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{32}$")


def device_digest(key: str) -> str:
    return PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def is_digest(value: str) -> bool:
    return _DIGEST.match(value) is not None


def as_digest(value: str) -> str:
    """A digest as given, or the digest of a key (staff who hold a key from elsewhere can still search by it)."""
    return value if is_digest(value) else device_digest(value)


def searched(value: str) -> str:
    """A device search term as the audit trail records it: auth's device id (`dev_…`, shown in every event) as
    given, anything else as the digest of the key it may be; a key in the trail is as good as one on screen."""
    return value if is_id(value, "dev") else as_digest(value)


def shown(key: str | None) -> str | None:
    return None if key is None else device_digest(key)


def redacted(data: Any) -> Any:
    """An event's data as staff see it: every `device_key` in it replaced by its digest."""
    if isinstance(data, dict):
        return {
            name: (device_digest(value) if name == "device_key" and isinstance(value, str) else redacted(value))
            for name, value in data.items()
        }
    if isinstance(data, list):
        return [redacted(item) for item in data]
    return data
