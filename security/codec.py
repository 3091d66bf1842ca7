"""Payload encryption: Temporal stores and shows only ciphertext of workflow data.

Citizens' names and national ids travel in workflow inputs, results, signals and failures; the
Temporal server (and anyone reading its database or history exports) must never see them. The
codec encrypts every payload with AES-256-GCM before it leaves the process. Its wire format is the
one of Temporal's samples-python ``encryption`` sample, so a worker or tool in any SDK can read it:

* ``metadata["encoding"] = b"binary/encrypted"``
* ``metadata["encryption-key-id"] = KEY_ID``
* ``data = 12-byte nonce || AES-GCM(key, nonce, inner Payload serialized as protobuf)``
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes, PayloadCodec

import settings

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload."""
KEY_ID_METADATA = "encryption-key-id"
"""The metadata naming the key a payload was encrypted with, so older keys still decrypt after rotation."""
KEY_BYTES = 32
NONCE_BYTES = 12


@dataclass(frozen=True)
class PayloadKeys:
    """The codec's keys: ``active`` encrypts; every key in ``keys`` decrypts (rotation keeps old ones)."""

    active: str
    keys: dict[str, bytes]

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ValueError(f"active key {self.active!r} is not among the keys {sorted(self.keys)}")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} is {len(key)} bytes; AES-256-GCM needs exactly {KEY_BYTES}")

    @classmethod
    def load(cls, path: Path | None = None) -> PayloadKeys:
        """Read ``{"active": KEY_ID, "keys": {KEY_ID: base64 of 32 bytes}}``; errors name the file and the fault."""
        path = Path(path) if path is not None else settings.payload_keys_file()
        if not path.exists():
            raise FileNotFoundError(
                f"payload keys file {path} does not exist (set PAYLOAD_KEYS_FILE, or run ./dev demo for dev keys)"
            )
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"payload keys file {path} is not readable JSON: {error}") from None
        if not isinstance(document, dict):
            raise ValueError(f"payload keys file {path} must hold a JSON object with 'active' and 'keys'")
        active, encoded = document.get("active"), document.get("keys")
        if not isinstance(active, str) or not active:
            raise ValueError(f"payload keys file {path}: 'active' must be a key id (a non-empty string)")
        if not isinstance(encoded, dict) or not encoded:
            raise ValueError(f"payload keys file {path}: 'keys' must be an object of key id to base64 key")
        keys: dict[str, bytes] = {}
        for key_id, value in encoded.items():
            if not isinstance(value, str):
                raise ValueError(f"payload keys file {path}: key {key_id!r} must be a base64 string")
            try:
                keys[key_id] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"payload keys file {path}: key {key_id!r} is not valid base64") from None
        try:
            return cls(active=active, keys=keys)
        except ValueError as error:
            raise ValueError(f"payload keys file {path}: {error}") from None

    @classmethod
    def generate(cls, key_id: str | None = None) -> PayloadKeys:
        """A fresh single random key, for dev set-up (production keys come from the key custodian)."""
        key_id = key_id or f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
        return cls(active=key_id, keys={key_id: os.urandom(KEY_BYTES)})

    def to_json(self) -> str:
        """The file form :meth:`load` reads."""
        return json.dumps(
            {"active": self.active, "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()}},
            indent=2,
        )


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole serialized payloads (metadata too, so even the type stays hidden)."""

    def __init__(self, keys: PayloadKeys) -> None:
        self._active = keys.active
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher, key_id = self._ciphers[self._active], self._active.encode()
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id},
                    data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), None),
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; others (e.g. written before encryption was on) pass unchanged."""
        return [self._decrypt(p) if p.metadata.get("encoding") == ENCODING else p for p in payloads]

    def _decrypt(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise ValueError(f"payload encrypted with unknown key {key_id!r}")
        data = payload.data
        if len(data) < NONCE_BYTES + 16:  # nonce + GCM tag: anything shorter was cut or forged
            raise ValueError(f"payload under key {key_id!r} is truncated")
        try:
            plaintext = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
        except InvalidTag:
            raise ValueError(f"payload under key {key_id!r} failed authentication (tampered or wrong key)") from None
        decrypted = Payload()
        decrypted.ParseFromString(plaintext)
        return decrypted


def data_converter(keys: PayloadKeys | None = None) -> temporalio.converter.DataConverter:
    """The default converter with encryption, and failures' messages and stack traces moved into encrypted attributes."""
    return dataclasses.replace(
        temporalio.converter.DataConverter.default,
        payload_codec=EncryptionCodec(keys or PayloadKeys.load()),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
