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


def payment_key(payment_ref: str) -> str:
    """A bank's payment reference as compared for uniqueness: NFKC-normalised, without invisible
    format characters (a zero-width non-joiner, a bidi mark), trimmed and case-folded, so
    ``"ref-1\u200c"`` and ``"REF-1"`` are the same reference as ``"ref-1"``."""
    normal = unicodedata.normalize("NFKC", payment_ref)
    visible = "".join(ch for ch in normal if unicodedata.category(ch) != "Cf")
    return visible.strip().casefold()
