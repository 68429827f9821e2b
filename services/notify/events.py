"""Notify's side of the notifications sekisho sends: the channels each event goes by.

What a producer sends (event types, their data models, the request) is the contract in
shared/contracts/notifications.py. A customer may only add SMS to email.
"""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.notifications import EventType


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    POST = "post"


# Where the code-bearing events go is fixed by their nature; every other notice goes by email, plus SMS
# where the policy (settings) or the customer's own preference says so.
FIXED_CHANNELS: dict[EventType, tuple[Channel, ...]] = {
    EventType.KYC_POSTAL_CODE: (Channel.POST,),
}
