"""The import scheme's lottery (seed 001 «طبق قرعه»): a documented draw anyone can recompute."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets

import pytest

from lifecycles import lottery

SEED = "5a" * 32


def codes(n: int, rng: random.Random | None = None) -> list[str]:
    rng = rng or random.Random(7)
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(alphabet) for _ in range(10)))
    return sorted(out)


def test_the_draw_is_the_documented_algorithm() -> None:
    """An independent implementation of the module's documentation gives the same ranks."""
    eligible = ["B7", "A1", "C3", "0Z"]
    ordered = sorted(eligible)
    digest = hashlib.sha256("\n".join(ordered).encode()).hexdigest()
    key = hmac.new(bytes.fromhex(SEED), b"import-scheme-draw/v1|s-1|" + digest.encode(), hashlib.sha256).digest()
    expected = sorted(ordered, key=lambda c: (hmac.new(key, c.encode(), hashlib.sha256).digest(), c))
    assert lottery.ranking(SEED, "s-1", eligible) == (expected, digest)
    assert lottery.commitment(SEED) == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()


def test_ranks_are_one_to_n_whatever_the_order_of_registration() -> None:
    """«زمان ثبت‌نام اولویت محسوب نمی‌شود»: the list in any order (e.g. by time of registration)
    gives the same ranking, and every code gets exactly one rank."""
    eligible = codes(2_000)
    ranked, digest = lottery.ranking(SEED, "s", eligible)
    shuffled = list(eligible)
    random.Random(1).shuffle(shuffled)
    assert lottery.ranking(SEED, "s", shuffled) == (ranked, digest)
    assert sorted(ranked) == eligible and len(set(ranked)) == len(eligible)
    assert ranked != eligible  # not the alphabetical (nor any registration) order


def test_another_seed_or_scheme_gives_another_ranking() -> None:
    eligible = codes(500)
    ranked, _ = lottery.ranking(SEED, "s", eligible)
    assert lottery.ranking("5b" * 32, "s", eligible)[0] != ranked
    assert lottery.ranking(SEED, "s-2", eligible)[0] != ranked


def test_one_code_changed_reshuffles_the_ranks() -> None:
    """The key is bound to the whole list: a list altered after the close cannot keep the others' ranks."""
    eligible = codes(500)
    ranked, _ = lottery.ranking(SEED, "s", eligible)
    altered = [*eligible[1:], "ZZZZZZZZZZ"]
    reranked, _ = lottery.ranking(SEED, "s", altered)
    common = [c for c in ranked if c in set(altered)]
    assert [c for c in reranked if c in set(eligible)] != common


def test_duplicate_or_malformed_codes_and_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        lottery.ranking(SEED, "s", ["A1", "B2", "A1"])
    with pytest.raises(ValueError, match="registration code"):
        lottery.ranking(SEED, "s", ["a1"])
    with pytest.raises(ValueError, match="64 lower-case"):
        lottery.ranking("XYZ", "s", ["A1"])
    assert lottery.seed_problem(secrets.token_hex(32)) is None


def publication(n: int = 300) -> dict:
    eligible = codes(n)
    ranked, _ = lottery.ranking(SEED, "s", eligible)
    return lottery.publication("s", lottery.commitment(SEED), SEED, eligible, ranked)


def test_verify_accepts_the_draw_and_names_every_tampering() -> None:
    good = publication()
    assert lottery.verify(good) == []

    wrong_seed = {**good, "seed": "5b" * 32}
    assert any("commitment" in p for p in lottery.verify(wrong_seed))
    assert any("ranks differ" in p for p in lottery.verify(wrong_seed))

    # A forger who swaps seed and commitment together still cannot keep the published ranks.
    forged = {**good, "seed": "5b" * 32, "seed_commitment": lottery.commitment("5b" * 32)}
    assert any("ranks differ" in p for p in lottery.verify(forged))

    dropped = [c for c in good["eligible"] if c != good["ranks"][-1]]
    shorter = {**good, "eligible": dropped, "list_digest": lottery.list_digest(dropped), "ranks": good["ranks"][:-1]}
    assert any("ranks differ" in p for p in lottery.verify(shorter))
    assert any("digest" in p for p in lottery.verify({**good, "eligible": dropped}))

    swapped = list(good["ranks"])
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert lottery.verify({**good, "ranks": swapped}) == ["2 ranks differ from the recomputed draw (first at rank 1)"]
