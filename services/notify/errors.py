"""The notify service's domain errors, each with its stable code."""

from __future__ import annotations

from shared.problems import Problem


class InvalidNotification(Problem):
    status = 422
    code = "validation_failed"


class NoContact(Problem):
    status = 422
    code = "no_contact"


class IdempotencyConflict(Problem):
    status = 409
    code = "idempotency_conflict"


class NotificationNotFound(Problem):
    status = 404
    code = "not_found"
