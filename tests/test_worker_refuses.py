"""``python worker.py`` refuses to start, saying why, without what a production worker needs.

The deploy step (``--setup``) migrates the schema; the worker itself has no DDL rights, so a
schema behind the code, missing actor keys or missing payload keys stop it before it polls.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from settings import PROJECT_ROOT


def run_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", **env}
    return subprocess.run(
        [sys.executable, "worker.py"], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_a_schema_behind_the_code_stops_the_worker(tmp_path: Path) -> None:
    result = run_worker(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert result.returncode == 2
    assert "run the deploy step `python worker.py --setup` first" in result.stderr


def test_missing_keys_stop_the_worker(database: str, tmp_path: Path) -> None:
    result = run_worker(tmp_path, DATABASE_URL=database, ACTOR_JWKS_FILE=str(tmp_path / "none.json"))
    assert result.returncode == 2 and "no trusted actor keys" in result.stderr
    result = run_worker(tmp_path, DATABASE_URL=database, PAYLOAD_KEYS_FILE=str(tmp_path / "none.json"))
    assert result.returncode == 2 and "no payload keys" in result.stderr
    private = tmp_path / "private.json"
    private.write_text('{"keys": [' + Path(os.environ["ACTOR_SIGNING_KEY_FILE"]).read_text() + "]}")
    result = run_worker(tmp_path, DATABASE_URL=database, ACTOR_JWKS_FILE=str(private))
    assert result.returncode == 2 and "private key" in result.stderr
