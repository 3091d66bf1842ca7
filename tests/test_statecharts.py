"""The published statecharts are the machines' own rendering."""

from lifecycles.charts import MACHINES, PAGE, render


def test_published_statecharts_match_the_machines() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), "docs/statecharts.md is stale: run python -m lifecycles.charts"


def test_every_state_has_a_persian_label() -> None:
    for _, machine, _ in MACHINES:
        for state in machine.states:
            assert state.name != state.id and any("\u0600" <= ch <= "\u06ff" for ch in state.name), state.id


def test_no_machine_uses_delayed_events() -> None:
    """python-statemachine schedules delayed events on a wall clock (time.monotonic): in a
    workflow that would be nondeterministic. Durable timers belong to the workflow."""
    for _, machine, _ in MACHINES:
        for event in machine.events:
            assert not event.delay, f"{machine.__name__}.{event.id} declares delay={event.delay}"
