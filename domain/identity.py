"""Iranian national id (کد ملی) validation."""

from __future__ import annotations


def national_id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid national id, or ``None`` when it is.

    Ten digits; the last is a check digit over the first nine, weighted 10..2, mod 11:
    remainder < 2 means the check digit equals the remainder, otherwise 11 − remainder.
    Ten equal digits pass the arithmetic but are never issued.
    """
    if not isinstance(value, str) or len(value) != 10 or not value.isascii() or not value.isdigit():
        return "a national id is exactly 10 ASCII digits"
    if len(set(value)) == 1:
        return "a national id cannot be ten equal digits"
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(value[:9])) % 11
    expected = remainder if remainder < 2 else 11 - remainder
    if int(value[9]) != expected:
        return "the national id's check digit is wrong"
    return None


def is_valid_national_id(value: object) -> bool:
    return national_id_problem(value) is None


def with_check_digit(first_nine: str) -> str:
    """Complete nine digits into a valid national id (for demos, tests and fixtures)."""
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(first_nine)) % 11
    return first_nine + str(remainder if remainder < 2 else 11 - remainder)
