"""Identifiers as the registry keys them: one spelling per thing, decided once at the edge.

A registry row is found by exact string equality, so two spellings of one VIN (a trailing
newline, a full-width letter, lower case) would be two vehicles, each free to get a plate.
Every VIN is therefore normalised here before anything compares or stores it: Unicode NFKC,
surrounding whitespace trimmed, upper case, then the whole string must match the pattern.
"""

from __future__ import annotations

import re
import unicodedata

VIN_PATTERN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
"""17 characters, digits and capital letters except I, O and Q (ISO 3779); used with fullmatch."""

VIN_PROBLEM = "a VIN is 17 characters: digits and capital letters except I, O and Q"


def canonical_text(value: str) -> str:
    """NFKC, then no surrounding whitespace: the form every identifier is compared in."""
    return unicodedata.normalize("NFKC", value).strip()


def normalize_vin(value: object) -> str:
    """The VIN's one spelling; ``ValueError`` (naming the rule, not the value) when it is none."""
    if not isinstance(value, str):
        raise ValueError(VIN_PROBLEM)
    vin = canonical_text(value).upper()
    if not VIN_PATTERN.fullmatch(vin):
        raise ValueError(VIN_PROBLEM)
    return vin


def is_canonical_vin(value: object) -> bool:
    """Whether ``value`` is already a VIN's one spelling (what the registry may store)."""
    try:
        return normalize_vin(value) == value
    except ValueError:
        return False
