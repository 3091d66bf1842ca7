"""The import scheme's lottery (قرعه, seed 001): a draw anyone can recompute from published data.

Seed 001: «پس از پایان ثبت‌نام، نوبت تخصیص افراد دارای شرایط مذکور طبق قرعه مشخص می‌شود» and
«زمان ثبت‌نام اولویت محسوب نمی‌شود». The draw (algorithm ``ALGORITHM``, ours):

1. **Commit.** Before registration closes the operator picks a secret seed of 32 random bytes
   (64 hex digits) and the scheme publishes ``commitment = SHA-256(seed bytes)`` (hex) when it
   opens. Nobody else knows the seed; the operator cannot change it afterwards.
2. **List.** At the close the eligibility batch fixes the eligible registrations. Each is known
   publicly only by its registration code (random, issued at registration, the applicant's
   tracking code). The list is the codes sorted ascending (byte order of their ASCII text), no
   duplicates; ``list_digest = SHA-256("\\n".join(sorted codes))`` (hex).
3. **Reveal.** The operator reveals the seed; anyone checks ``SHA-256(seed) == commitment``.
4. **Rank.** ``key = HMAC-SHA256(seed bytes, "import-scheme-draw/v1|" + scheme_id + "|" +
   list_digest)``; each code's ticket is ``HMAC-SHA256(key, code)``; ranks 1..N go to the codes in
   ascending order of ``(ticket, code)``. Ties are impossible: codes are unique and the code
   itself breaks a (2^-256) ticket tie. The time of registration plays no part.

Binding the key to the list digest means a list changed after the fact (a code added, removed or
altered) reshuffles every rank, and any changed seed, list or ranking fails :func:`verify`.
The publication (:func:`publication`) carries only codes, ranks and the hashes: no personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from typing import Any

ALGORITHM = "hmac-sha256-v1"
SEED_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CODE_PATTERN = re.compile(r"^[0-9A-Z]{1,16}$")
_DOMAIN = b"import-scheme-draw/v1|"


def seed_problem(seed: str) -> str | None:
    """Why ``seed`` is not a lottery seed (64 lower-case hex digits), or ``None``."""
    if not isinstance(seed, str) or not SEED_PATTERN.match(seed):
        return "the seed must be 64 lower-case hexadecimal digits (32 random bytes)"
    return None


def commitment(seed: str) -> str:
    """The hash published at opening: SHA-256 of the seed's 32 bytes, hex."""
    return hashlib.sha256(bytes.fromhex(seed)).hexdigest()


def sorted_codes(codes: Iterable[str]) -> list[str]:
    """The eligible list in its one order; refuses duplicates and codes of another shape."""
    ordered = sorted(codes)
    for i, code in enumerate(ordered):
        if not CODE_PATTERN.match(code):
            raise ValueError(f"registration code #{i + 1} is not 1-16 characters of 0-9 and A-Z")
        if i and ordered[i - 1] == code:
            raise ValueError(f"registration code {code} appears twice in the list")
    return ordered


def list_digest(ordered_codes: Sequence[str]) -> str:
    """SHA-256 of the sorted codes joined by newlines, hex."""
    return hashlib.sha256("\n".join(ordered_codes).encode("ascii")).hexdigest()


def draw_key(seed: str, scheme_id: str, digest: str) -> bytes:
    return hmac.new(bytes.fromhex(seed), _DOMAIN + scheme_id.encode("utf-8") + b"|" + digest.encode("ascii"), "sha256").digest()


def ranking(seed: str, scheme_id: str, codes: Iterable[str]) -> tuple[list[str], str]:
    """The codes in rank order (rank 1 first) and the list's digest."""
    problem = seed_problem(seed)
    if problem:
        raise ValueError(problem)
    ordered = sorted_codes(codes)
    digest = list_digest(ordered)
    key = draw_key(seed, scheme_id, digest)
    tickets = [(hmac.new(key, code.encode("ascii"), "sha256").digest(), code) for code in ordered]
    tickets.sort()
    return [code for _, code in tickets], digest


def publication(
    scheme_id: str, seed_commitment: str, seed: str, eligible: Iterable[str], ranked: Sequence[str], **extra: Any
) -> dict[str, Any]:
    """What the scheme publishes after the draw (``starter.py scheme ranks --out``)."""
    ordered = sorted_codes(eligible)
    return {
        "scheme_id": scheme_id,
        "algorithm": ALGORITHM,
        "seed_commitment": seed_commitment,
        "seed": seed,
        "eligible": ordered,
        "list_digest": list_digest(ordered),
        "ranks": list(ranked),
        **extra,
    }


def verify(published: dict[str, Any]) -> list[str]:
    """Every way a publication fails to be the draw it claims (empty: it verifies).

    Recomputes the ranking from the seed and the eligible list alone and compares it, rank for
    rank, with the published one; checks the seed against the commitment published at opening
    and the list against its digest."""
    problems: list[str] = []
    if published.get("algorithm") != ALGORITHM:
        return [f"unknown algorithm {published.get('algorithm')!r} (this verifier knows {ALGORITHM})"]
    seed = published.get("seed")
    scheme_id = published.get("scheme_id")
    eligible = published.get("eligible")
    ranks = published.get("ranks")
    if not isinstance(scheme_id, str) or not isinstance(eligible, list) or not isinstance(ranks, list):
        return ["the publication lacks scheme_id, eligible or ranks"]
    if not isinstance(seed, str) or seed_problem(seed):
        return ["the revealed seed is not 64 lower-case hex digits"]
    if commitment(seed) != published.get("seed_commitment"):
        problems.append("the revealed seed does not match the commitment published at opening")
    try:
        ordered = sorted_codes(eligible)
    except ValueError as err:
        return [*problems, f"the eligible list is not valid: {err}"]
    if ordered != eligible:
        problems.append("the eligible list is not in sorted order")
    if list_digest(ordered) != published.get("list_digest"):
        problems.append("the eligible list does not match its published digest")
    expected, _ = ranking(seed, scheme_id, ordered)
    if len(ranks) != len(expected):
        problems.append(f"{len(ranks)} ranks published for {len(expected)} eligible registrations")
    wrong = [i + 1 for i, (got, want) in enumerate(zip(ranks, expected, strict=False)) if got != want]
    if wrong:
        problems.append(f"{len(wrong)} ranks differ from the recomputed draw (first at rank {wrong[0]})")
    return problems
