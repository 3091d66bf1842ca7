"""The test session's identity provider and payload key, made fresh for every run.

``install()`` writes them to a temporary folder and points ``ACTOR_JWKS_FILE``,
``ACTOR_SIGNING_KEY_FILE`` and ``PAYLOAD_KEYS_FILE`` at them, so this process and the worker,
demo and CLI processes the tests start all trust the same keys.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from security.codec import PayloadKeys
from security.tokens import SigningKey, jwks_of

SIGNING_KEY = SigningKey.generate(kid="test-idp-1")
"""The identity provider whose tokens the test workers trust."""
UNTRUSTED_KEY = SigningKey.generate(kid="test-idp-1")
"""A key nobody trusts, with the trusted key's id (a forger's best try)."""
PAYLOAD_KEYS = PayloadKeys.load(Path(__file__).with_name("histories") / "payload-keys.json")
"""A test-only key, committed: the recorded histories in tests/histories are encrypted with it,
and replaying them must decode them."""


def install() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="lifecycles-trust-"))
    (folder / "signing.jwk.json").write_text(json.dumps(SIGNING_KEY.jwk))
    (folder / "jwks.json").write_text(json.dumps(jwks_of(SIGNING_KEY)))
    (folder / "payload-keys.json").write_text(PAYLOAD_KEYS.to_json())
    os.environ["ACTOR_SIGNING_KEY_FILE"] = str(folder / "signing.jwk.json")
    os.environ["ACTOR_JWKS_FILE"] = str(folder / "jwks.json")
    os.environ["PAYLOAD_KEYS_FILE"] = str(folder / "payload-keys.json")
    return folder
