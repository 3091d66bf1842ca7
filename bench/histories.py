"""Events and bytes of every workflow type's full lifecycles, per recorded build.

``python -m bench.histories`` reads the histories recorded in ``tests/histories/<lifecycle>/<build>/``
(real runs of each main path, see ``tests/recorded.py``) and prints, for each path, its events
and its size as Temporal stores it (protobuf bytes, payloads encrypted), build beside build.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory

from tests.recorded import BUILD, HISTORIES


def measure(file: Path) -> tuple[int, int]:
    history = WorkflowHistory.from_json(file.stem, file.read_text(encoding="utf-8"))
    return len(history.events), sum(event.ByteSize() for event in history.events)


def main() -> None:
    print(f"{'lifecycle / path':<46}{'build':>12}{'events':>8}{'bytes':>10}")
    for lifecycle in sorted(p for p in HISTORIES.iterdir() if p.is_dir()):
        builds = sorted((p for p in lifecycle.iterdir() if p.is_dir()), key=lambda p: p.name != BUILD)
        paths = sorted({f.stem for b in builds for f in b.glob("*.json")})
        for path in paths:
            for build in builds:
                file = build / f"{path}.json"
                if file.exists():
                    events, size = measure(file)
                    print(f"{lifecycle.name + ' / ' + path:<46}{build.name:>12}{events:>8}{size:>10,}")


if __name__ == "__main__":
    main()
