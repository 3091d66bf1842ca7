"""``python -m security.devkeys``: the dev deployment's trust material under .data/, made once.

- an Ed25519 signing key (the dev identity provider's, ``ACTOR_SIGNING_KEY_FILE``) and the JWKS
  of its public key that workers trust (``ACTOR_JWKS_FILE``);
- an AES-256 payload key (``PAYLOAD_KEYS_FILE``);
- the codec server's bearer token (``.data/codec-auth-token``) and the decode-only token of the
  Web UI's codec endpoint (``.data/codec-ui-token``).

Files that exist are kept, so cases encrypted under the dev key stay readable across runs.
Production keys come from the deployment's identity provider and secret store, never from here.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import settings
from security.codec import PayloadKeys
from security.tokens import SigningKey, jwks_of


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def ensure_dev_keys() -> list[str]:
    """Create whatever trust material is missing; return what was created."""
    made: list[str] = []
    signing = settings.actor_signing_key_file()
    if not signing.exists():
        _write_private(signing, json.dumps(SigningKey.generate().jwk))
        made.append(str(signing))
    jwks = settings.actor_jwks_file()
    if not jwks.exists():
        jwks.parent.mkdir(parents=True, exist_ok=True)
        jwks.write_text(json.dumps(jwks_of(SigningKey.load(signing)), indent=2))
        made.append(str(jwks))
    payload = settings.payload_keys_file()
    if not payload.exists():
        _write_private(payload, PayloadKeys.generate().to_json())
        made.append(str(payload))
    for variable, name in (("CODEC_AUTH_TOKEN", "codec-auth-token"), ("CODEC_UI_TOKEN", "codec-ui-token")):
        token = settings.DATA_DIR / name
        if not os.environ.get(variable) and not token.exists():
            _write_private(token, secrets.token_urlsafe(32))
            made.append(str(token))
    return made


if __name__ == "__main__":
    for path in ensure_dev_keys():
        print(f"created {path}")
