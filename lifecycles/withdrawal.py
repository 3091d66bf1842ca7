"""Withdrawal by SMS code (seed 000): the bookkeeping a case keeps of its live code.

Seed 000's steps: «۱: دریافت کد پیامکی ... ۲: درج کد پیامکی دریافت شده ... ۳: کلیک بر روی دکمه
«انصراف»». The code itself is drawn by an activity and lives only in the outbox row the SMS gateway
reads (``activities.import_purchase.check_withdrawal_code`` compares a given code with it); a case
keeps the row's step, the expiry and the attempts left, never the code nor a digest of it.

Pure functions over any case with the four fields of :class:`HoldsWithdrawalCode`, so lifecycles
share the rules (attempt limit, expiry) without sharing a workflow: ``ImportPurchase`` and
``DomesticOrder``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain import policy
from domain.display import iso, parse_instant


class HoldsWithdrawalCode(Protocol):
    code_step: str | None
    code_expires_at: str | None
    code_attempts_left: int
    codes_sent: int


def next_code(case: HoldsWithdrawalCode, now: datetime) -> tuple[str, datetime]:
    """The outbox step and expiry of a new code (``policy.WITHDRAWAL_CODE_TTL``); counts it sent."""
    case.codes_sent += 1
    return f"withdrawal-code-{case.codes_sent}", now + policy.WITHDRAWAL_CODE_TTL


def code_issued(case: HoldsWithdrawalCode, step: str, expires: datetime) -> None:
    """The code queued at ``step`` is the live one (it replaces any earlier code)."""
    case.code_step, case.code_expires_at = step, iso(expires)
    case.code_attempts_left = policy.WITHDRAWAL_CODE_MAX_ATTEMPTS


def has_code(case: HoldsWithdrawalCode) -> bool:
    return case.code_step is not None and case.code_attempts_left > 0


def expired(case: HoldsWithdrawalCode, now: datetime) -> bool:
    """The live code's time ran out at ``now``."""
    expires = parse_instant(case.code_expires_at)
    return expires is not None and now >= expires


def is_last_attempt(case: HoldsWithdrawalCode) -> bool:
    """A wrong code now voids the code (the checking activity erases it either way)."""
    return case.code_attempts_left <= 1


def burn(case: HoldsWithdrawalCode) -> None:
    """No live code any more (used, voided, expired)."""
    case.code_step, case.code_expires_at, case.code_attempts_left = None, None, 0


def wrong_code(case: HoldsWithdrawalCode, update: str = "withdraw") -> str:
    """Count a wrong code; burn the code at the limit (``policy.WITHDRAWAL_CODE_MAX_ATTEMPTS``).
    Returns the refusal's message."""
    case.code_attempts_left -= 1
    if case.code_attempts_left <= 0:
        burn(case)
        return f"{update}: wrong code; no attempts left, the code is void: request a new one"
    return f"{update}: wrong code; {case.code_attempts_left} attempt(s) left"
