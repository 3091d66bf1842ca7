"""Payload encryption and the remote codec server, without a Temporal server."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from security.codec import EncryptionCodec, PayloadKeys, data_converter
from security.codec_server import build_app

NAME = "محمد رضایی"
NATIONAL_ID = "0012345679"
TOKEN = "test-token-" + "x" * 20
UI_TOKEN = "ui-" + TOKEN[::-1]
UI_ORIGIN = "http://127.0.0.1:8233"


def plain_payloads() -> list[Payload]:
    return DataConverter.default.payload_converter.to_payloads([NAME, {"national_id": NATIONAL_ID}])


def keys_with(*key_ids: str, active: str) -> PayloadKeys:
    return PayloadKeys(active=active, keys={k: KEYS[k] for k in key_ids})


KEYS = {"A": os.urandom(32), "B": os.urandom(32)}


async def test_round_trip_hides_plaintext() -> None:
    codec = EncryptionCodec(keys_with("A", active="A"))
    plain = plain_payloads()
    encoded = await codec.encode(plain)
    assert len(encoded) == len(plain)
    for payload in encoded:
        raw = payload.SerializeToString()
        assert NAME.encode() not in raw and NATIONAL_ID.encode() not in raw
        # Temporal's JSON converter escapes non-ASCII (\u0645...): its actual bytes must be hidden too.
        assert plain[0].data not in raw
        assert payload.metadata["encoding"] == b"binary/encrypted"
        assert payload.metadata["encryption-key-id"] == b"A"
    assert await codec.decode(encoded) == plain
    # A fresh nonce each time: the same value never gives the same ciphertext.
    assert (await codec.encode(plain))[0].data != encoded[0].data


async def test_rotation_keeps_old_keys_readable() -> None:
    encoded = await EncryptionCodec(keys_with("A", active="A")).encode(plain_payloads())
    rotated = EncryptionCodec(keys_with("A", "B", active="B"))
    assert await rotated.decode(encoded) == plain_payloads()
    assert (await rotated.encode(plain_payloads()))[0].metadata["encryption-key-id"] == b"B"
    with pytest.raises(ValueError, match="'A'") as caught:
        await EncryptionCodec(keys_with("B", active="B")).decode(encoded)
    assert NATIONAL_ID not in str(caught.value)


async def test_tampering_fails() -> None:
    codec = EncryptionCodec(keys_with("A", active="A"))
    (encoded,) = await codec.encode(plain_payloads()[:1])
    data = bytearray(encoded.data)
    data[20] ^= 0x01
    tampered = Payload(metadata=dict(encoded.metadata), data=bytes(data))
    with pytest.raises(ValueError, match="authentication"):
        await codec.decode([tampered])
    with pytest.raises(ValueError, match="truncated"):
        await codec.decode([Payload(metadata=dict(encoded.metadata), data=encoded.data[:20])])


async def test_unencrypted_payloads_pass_through() -> None:
    plain = plain_payloads()
    assert await EncryptionCodec(keys_with("A", active="A")).decode(plain) == plain


def test_keys_file(tmp_path: Path) -> None:
    generated = PayloadKeys.generate("k1")
    path = tmp_path / "keys.json"
    path.write_text(generated.to_json())
    assert PayloadKeys.load(path) == generated
    assert len(PayloadKeys.generate().active) > 0

    path.write_text(json.dumps({"active": "missing", "keys": {"k1": base64.b64encode(os.urandom(32)).decode()}}))
    with pytest.raises(ValueError, match="missing") as caught:
        PayloadKeys.load(path)
    assert str(path) in str(caught.value)

    path.write_text(json.dumps({"active": "short", "keys": {"short": base64.b64encode(os.urandom(16)).decode()}}))
    with pytest.raises(ValueError, match="16 bytes") as caught:
        PayloadKeys.load(path)
    assert str(path) in str(caught.value)

    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        PayloadKeys.load(tmp_path / "nowhere.json")


@asynccontextmanager
async def codec_client() -> AsyncIterator[TestClient]:
    app = build_app(EncryptionCodec(keys_with("A", active="A")), TOKEN, [UI_ORIGIN, "http://localhost:8233"], UI_TOKEN)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def as_json(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


def from_json(text: str) -> list[Payload]:
    return list(json_format.Parse(text, Payloads()).payloads)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_codec_server_decode_and_auth() -> None:
    encoded = await EncryptionCodec(keys_with("A", active="A")).encode(plain_payloads())
    async with codec_client() as client:
        response = await client.post("/decode", data=as_json(encoded), headers={**AUTH, "Origin": UI_ORIGIN})
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        body = await response.json()
        data = base64.b64decode(body["payloads"][0]["data"])
        assert data == plain_payloads()[0].data and json.loads(data) == NAME
        assert from_json(json.dumps(body)) == plain_payloads()

        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = await client.post("/decode", data=as_json(encoded), headers=headers)
            assert response.status == 401

        response = await client.post("/decode", data="{not json", headers=AUTH)
        assert response.status == 400
        tampered = Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"Z"}, data=b"x" * 40)
        response = await client.post("/decode", data=as_json([tampered]), headers=AUTH)
        assert response.status == 400 and "'Z'" in await response.text()

        assert (await client.get("/decode", headers=AUTH)).status == 405
        assert (await client.post("/elsewhere", data="{}", headers=AUTH)).status == 404


async def test_codec_server_token_in_the_path_for_the_web_ui() -> None:
    """The UI's codec endpoint carries a decode-only token of its own as a path segment."""
    encoded = await EncryptionCodec(keys_with("A", active="A")).encode(plain_payloads())
    async with codec_client() as client:
        response = await client.post(f"/ui/{UI_TOKEN}/decode", data=as_json(encoded), headers={"Origin": UI_ORIGIN})
        assert response.status == 200 and response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        assert from_json(await response.text()) == plain_payloads()
        assert (await client.post("/ui/wrong/decode", data=as_json(encoded))).status == 401
        assert (await client.post(f"/ui/{TOKEN}/decode", data=as_json(encoded))).status == 401  # the bearer token is not it
        assert (await client.post(f"/ui/{UI_TOKEN}/encode", data=as_json(plain_payloads()))).status in (401, 404)  # never encodes
        assert (
            await client.post("/decode", data=as_json(encoded), headers={"Authorization": f"Bearer {UI_TOKEN}"})
        ).status == 401
        preflight = {"Access-Control-Request-Method": "POST", "Origin": UI_ORIGIN}
        assert (await client.options(f"/ui/{UI_TOKEN}/decode", headers=preflight)).status == 200


async def test_codec_server_cors() -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
    async with codec_client() as client:
        response = await client.options("/decode", headers={**preflight, "Origin": UI_ORIGIN})
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        assert response.headers["Access-Control-Allow-Methods"] == "POST"
        assert response.headers["Access-Control-Allow-Headers"] == "content-type,x-namespace,authorization"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"

        response = await client.options("/decode", headers={**preflight, "Origin": "https://evil.example"})
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers

        evil = {**AUTH, "Origin": "https://evil.example"}
        response = await client.post("/encode", data=as_json(plain_payloads()), headers=evil)
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_codec_server_encode_then_decode() -> None:
    async with codec_client() as client:
        response = await client.post("/encode", data=as_json(plain_payloads()), headers=AUTH)
        assert response.status == 200
        encoded_text = await response.text()
        assert NATIONAL_ID not in encoded_text
        assert all(p.metadata["encoding"] == b"binary/encrypted" for p in from_json(encoded_text))
        response = await client.post("/decode", data=encoded_text, headers=AUTH)
        assert response.status == 200
        assert from_json(await response.text()) == plain_payloads()


async def test_data_converter_encrypts_values_and_failures() -> None:
    dc = data_converter(keys_with("A", active="A"))
    encoded = await dc.encode([NAME, NATIONAL_ID])
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in encoded)
    assert await dc.decode(encoded) == [NAME, NATIONAL_ID]

    failure = Failure()
    dc.failure_converter.to_failure(ApplicationError(f"secret {NATIONAL_ID}"), dc.payload_converter, failure)
    await dc.payload_codec.encode_failure(failure)  # type: ignore[union-attr]
    assert failure.message == "Encoded failure"
    assert failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
    assert NATIONAL_ID.encode() not in failure.SerializeToString()

    error = await dc.decode_failure(failure)
    assert isinstance(error, ApplicationError) and error.message == f"secret {NATIONAL_ID}"

    # DataConverter.encode_failure converts and encodes in one step.
    converted = Failure()
    await dc.encode_failure(ApplicationError(f"secret {NATIONAL_ID}"), converted)
    assert converted.message == "Encoded failure"
    assert NATIONAL_ID.encode() not in converted.SerializeToString()
