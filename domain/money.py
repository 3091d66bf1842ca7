"""Money rules: rials are whole numbers, EUR amounts are Decimals, never floats."""

from __future__ import annotations

import unicodedata
from decimal import ROUND_HALF_UP, Decimal


def to_rials(amount: Decimal) -> int:
    """Round a rial amount to a whole rial, half up (rial amounts have no fractions)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(base_rial: int, rate: Decimal) -> int:
    """``rate`` (0.05 for 5%) of a rial amount, rounded to a whole rial."""
    return to_rials(Decimal(base_rial) * rate)


HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
"""Letters by category that print as nothing."""
PAYMENT_KEY_MAX = 64


def payment_key(payment_ref: str) -> str:
    """A bank's payment reference as compared for uniqueness: NFKC-normalised, every decimal digit
    as its ASCII digit (Persian ۱۲۳ is 123), only its letters and digits kept (no invisible
    characters, marks, tatweel, spaces or dashes of any kind) and case-folded. So ``"ref-1\u200c"``,
    ``" REF-1"``, ``"ref‐۱"`` and ``"ＲＥＦ1"`` are the same reference as ``"ref-1"``."""
    out = []
    for ch in unicodedata.normalize("NFKC", payment_ref):
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            out.append(str(digit))
        elif unicodedata.category(ch) in ("Lu", "Ll", "Lt", "Lo") and ch not in HANGUL_FILLERS:
            out.append(ch)
    return "".join(out).casefold()


def payment_key_problem(payment_ref: str) -> str | None:
    """Why a reference cannot be compared (nothing left of it, or too long once normalised)."""
    key = payment_key(payment_ref)
    if not key:
        return "payment_ref has no letter or digit"
    if len(key) > PAYMENT_KEY_MAX:
        return f"payment_ref is longer than {PAYMENT_KEY_MAX} characters once normalised"
    return None
