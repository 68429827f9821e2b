"""Realistic, valid data for every notification event type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.contracts.notifications import EventType

AT = datetime(2026, 11, 23, 5, 30, tzinfo=UTC).isoformat()

SAMPLES: dict[EventType, dict[str, Any]] = {
    EventType.LOGIN: {"at": AT, "device": "iPhone / Safari", "ip": "203.0.113.7", "place": "Osaka, JP"},
    EventType.LOGIN_NEW_DEVICE: {"at": AT, "device": "Android / Chrome", "ip": "198.51.100.23", "place": None},
    EventType.ACCOUNT_LOCKED: {"at": AT, "reason": "password_failures", "until": "2026-11-23T06:00:00+00:00"},
    EventType.WITHDRAWAL_COMPLETED: {"at": AT, "amount": 30000, "atm": "セブン銀行ATM", "withdrawal_id": "wd_01"},
    EventType.ATTRIBUTE_CHANGED: {
        "at": AT,
        "attribute": "email",
        "old": "taro.yamada@example.jp",
        "new": "t.yamada@example.com",
        "recipient_role": "old",
    },
    EventType.PASSWORD_CHANGED: {"at": AT},
    EventType.PASSWORD_RESET: {"at": AT, "sessions_ended": 2},
    EventType.MFA_CHANGED: {"at": AT, "change": "enrolled", "factor": "totp"},
    EventType.BANK_ACCOUNT_LINKED: {
        "at": AT,
        "bank_name": "みずほ銀行",
        "branch_code": "123",
        "account_number": "7654321",
        "service_name": "sekisho wallet",
    },
    EventType.BANK_LINK_SUSPENDED: {
        "at": AT,
        "bank_name": "みずほ銀行",
        "branch_code": "123",
        "account_number": "7654321",
        "service_name": "sekisho wallet",
    },
    EventType.SUSPICIOUS_ACTIVITY: {"at": AT, "summary": "新しい端末から上限額の出金が申し込まれました"},
    EventType.ONE_TIME_CODE: {"code": "482913", "expires_in": 60, "operation": "withdrawal", "amount": 30000},
    EventType.KYC_POSTAL_CODE: {
        "code": "K7Q2M9XA",
        "name": "山田 太郎",
        "postal_code": "530-0001",
        "address": "大阪府大阪市北区梅田1-1-1 梅田ハイツ101",
        "expires_at": "2026-12-07T00:00:00+00:00",
    },
    EventType.KYC_APPROVED: {"at": AT, "method": "postal"},
    EventType.KYC_REJECTED: {"at": AT, "method": "ekyc", "reason": "書類の写真が不鮮明で読み取れませんでした"},
    EventType.DISPUTE_OPENED: {
        "at": AT,
        "dispute_id": "dsp_01",
        "transactions": 1,
        "amount": 50000,
        "channel": "app",
        "declared_not_liable": True,
        "target_days": 3,
    },
    EventType.DISPUTE_RESOLVED: {
        "at": AT,
        "dispute_id": "dsp_01",
        "outcome": "rejected",
        "amount": 0,
        "reason": "ご本人の端末からのご利用と確認できました",
        "credit_information_deletion": False,
    },
    EventType.DEVICE_REMOVED: {"at": AT, "device": "sekisho-app/1.0 (iPhone)", "last_seen_at": AT, "sessions_ended": 1},
    EventType.RECOVERY_CODE_USED: {"at": AT, "remaining": 9, "operation": "login", "ip": "203.0.113.7"},
    EventType.RECOVERY_CODES_REGENERATED: {"at": AT, "count": 10},
    EventType.INCIDENT_CAUTION: {"at": AT, "reference": "inc_01", "detected_at": AT},
    EventType.INCIDENT_PASSWORD_RESET: {"at": AT, "reference": "inc_01", "detected_at": AT},
    EventType.INCIDENT_APOLOGY: {"at": AT, "reference": "inc_01", "detected_at": AT},
    EventType.DEVICE_INFECTED: {
        "at": AT,
        "device": "sekisho-app/1.0 (Android)",
        "source": "staff",
        "sessions_ended": 1,
    },
}

EMAIL = "taro.yamada@example.jp"
PHONE = "+819012345678"
