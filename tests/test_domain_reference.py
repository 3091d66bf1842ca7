"""The published domain rules are the code's own rendering, and every policy number cites its source."""

from lifecycles.domain_reference import PAGE, POLICY, policy_numbers, render


def test_published_domain_rules_match_the_code() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), "docs/domain.md is stale: run python -m lifecycles.domain_reference"


def test_every_policy_number_says_where_it_comes_from() -> None:
    numbers = policy_numbers(POLICY.read_text(encoding="utf-8"))
    assert len(numbers) > 30
    for number in numbers:
        assert number.rule, f"{number.name} has no docstring"
        assert "seed" in f"{number.rule} {number.section}" or "our" in number.rule.lower(), (
            f"{number.name} cites no seed and is not marked as our choice"
        )
