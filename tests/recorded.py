"""Recorded histories: what cases of an earlier build wrote, replayed against today's code.

A change that would break cases already running (a new activity in an old path, a reordered
command) fails these replays. ``RECORD_HISTORIES=1 ./dev test -k replay`` re-records them: only
for a deliberate change, with the reason in the commit. Payloads are encrypted with the test-only
key in ``tests/histories/payload-keys.json``, so the replays need it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from security.codec import data_converter

HISTORIES = Path(__file__).with_name("histories")


def recording() -> bool:
    return os.environ.get("RECORD_HISTORIES") == "1"


def save(folder: str, histories: dict[str, WorkflowHistory]) -> None:
    target = HISTORIES / folder
    target.mkdir(parents=True, exist_ok=True)
    for name, history in histories.items():
        (target / f"{name}.json").write_text(history.to_json(), encoding="utf-8")


async def replay_recorded(folder: str, workflows: Sequence[type], expected: int) -> None:
    """Replay every history recorded under ``tests/histories/<folder>``; fail on any divergence."""
    files = sorted((HISTORIES / folder).glob("*.json"))
    assert len(files) == expected, f"tests/histories/{folder}/ holds {len(files)} histories, expected {expected}"
    replayer = Replayer(data_converter=data_converter(), workflows=list(workflows))
    for file in files:
        await replayer.replay_workflow(WorkflowHistory.from_json(file.stem, file.read_text(encoding="utf-8")))
