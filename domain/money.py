"""Money rules: rials are whole numbers, EUR amounts are Decimals, never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def to_rials(amount: Decimal) -> int:
    """Round a rial amount to a whole rial, half up (rial amounts have no fractions)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(base_rial: int, rate: Decimal) -> int:
    """``rate`` (0.05 for 5%) of a rial amount, rounded to a whole rial."""
    return to_rials(Decimal(base_rial) * rate)
