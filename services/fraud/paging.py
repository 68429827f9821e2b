"""Cursor paging of the staff queues (inquiries, cases): a cursor names the last row of a page, opaquely.

A cursor is the base64url of `<kind>:<row id>`; one that does not decode, names another kind or no row at all is
refused (422 `cursor_invalid`), never read as "from the start": a client that sent a broken cursor would otherwise
page through the queue again without noticing.
"""

from __future__ import annotations

import base64
import binascii

from shared.ids import is_id
from shared.problems import Problem

MAX_CURSOR = 200


class CursorInvalid(Problem):
    status = 422
    code = "cursor_invalid"


def encode_cursor(kind: str, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).rstrip(b"=").decode()


def decode_cursor(kind: str, cursor: str, *, prefix: str) -> str:
    """The row id a cursor of `kind` names (its id prefix `prefix`); CursorInvalid when it is anything else."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise cursor_invalid() from None
    named, _, row_id = text.partition(":")
    if named != kind or not is_id(row_id, prefix):
        raise cursor_invalid()
    return row_id


def cursor_invalid() -> CursorInvalid:
    """Also for a cursor that decodes but whose row is not there (or not in this queue)."""
    return CursorInvalid(
        "The cursor is not one this queue gave; start again without it.",
        violations=[{"field": "cursor", "code": "invalid", "message": "not a cursor this queue gave"}],
    )
