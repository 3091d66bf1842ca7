"""Recorded histories: what cases of an earlier build wrote, replayed against today's code.

A change that would break cases already running (a new activity in an old path, a reordered
command) fails these replays. ``RECORD_HISTORIES=1 ./dev test -k replay`` records the current
build's (``BUILD``) beside the older builds', which stay: a deploy meets cases of every build still
running. Payloads are encrypted with the test-only
key in ``tests/histories/payload-keys.json``, so the replays need it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import WorkflowHandle, WorkflowHistory

from worker import build_replayer

HISTORIES = Path(__file__).with_name("histories")

BUILD = "audit-rides"
"""The build whose histories a recording writes: ``tests/histories/<lifecycle>/<BUILD>/``. Older
builds' folders stay: cases they started may still be running when this build deploys."""


def recording() -> bool:
    return os.environ.get("RECORD_HISTORIES") == "1"


def save(folder: str, histories: dict[str, WorkflowHistory]) -> None:
    target = HISTORIES / folder / BUILD
    target.mkdir(parents=True, exist_ok=True)
    for name, history in histories.items():
        (target / f"{name}.json").write_text(history.to_json(), encoding="utf-8")
        print(f"recorded {target / name}.json ({len(history.events)} events)")


def recorded(folder: str, expected: int) -> list[WorkflowHistory]:
    """Every build's recorded histories of a lifecycle; the current build must have all ``expected``
    main paths, and at least one older build must be there too (what a deploy meets)."""
    builds = sorted(path for path in (HISTORIES / folder).iterdir() if path.is_dir())
    current = HISTORIES / folder / BUILD
    assert current in builds, f"tests/histories/{folder}/{BUILD}/ is missing: record this build's histories"
    assert len(builds) >= 2, f"tests/histories/{folder}/ keeps no earlier build"
    assert len(list(current.glob("*.json"))) == expected, (
        f"tests/histories/{folder}/{BUILD}/ holds one history per main path ({expected})"
    )
    files = sorted(file for build in builds for file in build.glob("*.json"))
    return [WorkflowHistory.from_json(f"{file.parent.name}/{file.stem}", file.read_text(encoding="utf-8")) for file in files]


async def replay_recorded(folder: str, workflows: Sequence[type], expected: int) -> None:
    """Replay every history recorded under ``tests/histories/<folder>/*/``; fail on any divergence."""
    replayer = build_replayer(workflows)
    for history in recorded(folder, expected):
        await replayer.replay_workflow(history)


async def replays_now(workflows: Sequence[type], *handles: WorkflowHandle) -> None:
    """Fetch each case's history as it stands and replay it against today's code (determinism of a
    path a test just ran; lifecycles without recorded builds yet)."""
    replayer = build_replayer(workflows)
    for handle in handles:
        await replayer.replay_workflow(await handle.fetch_history())
