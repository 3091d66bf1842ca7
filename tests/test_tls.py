"""Workers connect to Temporal the way the ``temporal`` CLI does: envconfig profiles and TEMPORAL_* variables, TLS and mTLS.

The dev server has no TLS, so a TLS-terminating, mTLS-verifying proxy (tests/tls_proxy.py) stands
in front of a dev server started here; the real SDK client reaches it only with the TLS settings.
These tests use none of conftest's fixtures (``env``, ``worker``, ``client``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

import settings
from security.connection import connect, connect_config, describe
from tests.tls_proxy import TestPKI, TLSProxy, free_port, write_test_pki

FAST_FAIL = {"connect_timeout": timedelta(seconds=5)}
"""Overrides for ``connect`` so a refused connection fails in seconds."""


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def clean_temporal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TEMPORAL_* variable of the caller's shell, nor their ~/.config/temporalio profile, reaches a test."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "no-profiles.toml"
    empty.write_text("")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(empty))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return write_test_pki(tmp_path_factory.mktemp("pki"))


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"temporal dev server did not listen on {port} within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def dev_server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A plaintext ``temporal server start-dev`` of our own, on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("dev-server") / "temporal.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                settings.find_binary("temporal"),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--headless",
                "--log-level",
                "warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for_port(port, process, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
async def dev_server(dev_server_port: int) -> int:
    """The dev server's port, once it answers RPCs (listening comes slightly before serving)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            client = await Client.connect(f"127.0.0.1:{dev_server_port}", connect_timeout=timedelta(seconds=5))
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return dev_server_port
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def mtls_proxy(dev_server: int, pki: TestPKI) -> AsyncIterator[TLSProxy]:
    """TLS in front of the dev server, demanding a client certificate signed by the test CA."""
    async with TLSProxy(upstream_port=dev_server, cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca_cert) as proxy:
        yield proxy


@pytest.fixture(scope="module")
async def tls_proxy(dev_server: int, pki: TestPKI) -> AsyncIterator[TLSProxy]:
    """TLS (server authentication only) in front of the dev server."""
    async with TLSProxy(upstream_port=dev_server, cert=pki.server_cert, key=pki.server_key) as proxy:
        yield proxy


async def _connect(**overrides: object) -> Client:
    return await asyncio.wait_for(connect(data_converter=DataConverter.default, **FAST_FAIL, **overrides), 20)


async def _assert_rpc_works(client: Client) -> None:
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=10))
    assert info.server_version
    assert await client.service_client.check_health(timeout=timedelta(seconds=10))


def _client_cn(peer_cert: dict | None) -> str | None:
    if not peer_cert:
        return None
    return next((value for rdn in peer_cert["subject"] for key, value in rdn if key == "commonName"), None)


# ---------------------------------------------------------------- a. mTLS from TEMPORAL_* variables


async def test_mtls_from_environment_variables(monkeypatch: pytest.MonkeyPatch, mtls_proxy: TLSProxy, pki: TestPKI) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", mtls_proxy.address)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(pki.client_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(pki.client_key))
    handshakes = len(mtls_proxy.peer_certs)

    config = connect_config()
    assert config["target_host"] == mtls_proxy.address
    assert isinstance(config["tls"], TLSConfig)
    assert describe(config) == f"{mtls_proxy.address} namespace default, TLS (mTLS client cert, custom server CA)"

    client = await _connect()
    await _assert_rpc_works(client)
    assert client.namespace == "default"
    new = mtls_proxy.peer_certs[handshakes:]
    assert new, "the proxy saw no completed TLS handshake"
    assert [_client_cn(cert) for cert in new] == ["test-worker"] * len(new)


# ---------------------------------------------------------------- b. no TLS settings: refused


async def test_plaintext_to_tls_endpoint_fails(monkeypatch: pytest.MonkeyPatch, mtls_proxy: TLSProxy) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", mtls_proxy.address)
    handshakes = len(mtls_proxy.peer_certs)
    assert "tls" not in connect_config()

    with pytest.raises(RuntimeError) as raised:
        await _connect()
    message = str(raised.value)
    assert mtls_proxy.address in message and "no TLS" in message
    assert len(mtls_proxy.peer_certs) == handshakes


async def test_plaintext_to_server_only_tls_endpoint_fails(monkeypatch: pytest.MonkeyPatch, tls_proxy: TLSProxy) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", tls_proxy.address)
    with pytest.raises(RuntimeError, match="no TLS"):
        await _connect()


# ---------------------------------------------------------------- c. TLS without a client certificate: refused by mTLS


async def test_tls_without_client_certificate_fails_mtls(
    monkeypatch: pytest.MonkeyPatch, mtls_proxy: TLSProxy, pki: TestPKI
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", mtls_proxy.address)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca_cert))
    handshakes = len(mtls_proxy.peer_certs)

    with pytest.raises(RuntimeError) as raised:
        await _connect()
    assert "TLS (custom server CA)" in str(raised.value)
    assert len(mtls_proxy.peer_certs) == handshakes


async def test_tls_without_client_certificate_works_without_mtls(
    monkeypatch: pytest.MonkeyPatch, tls_proxy: TLSProxy, pki: TestPKI
) -> None:
    """The same settings reach a server that does not ask for a client certificate: (c) failed on mTLS alone."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", tls_proxy.address)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca_cert))
    await _assert_rpc_works(await _connect())


async def test_tls_with_unknown_server_ca_fails(monkeypatch: pytest.MonkeyPatch, tls_proxy: TLSProxy) -> None:
    """``TEMPORAL_TLS=true`` alone trusts the system roots only, which never signed the test CA."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", tls_proxy.address)
    monkeypatch.setenv("TEMPORAL_TLS", "true")
    with pytest.raises(RuntimeError, match="TLS"):
        await _connect()


# ---------------------------------------------------------------- d. a profile in a TOML config file


async def test_mtls_from_config_file_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mtls_proxy: TLSProxy, pki: TestPKI
) -> None:
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(
        f"""
[profile.default]
address = "{mtls_proxy.address}"
namespace = "default"

[profile.default.tls]
server_name = "localhost"
server_ca_cert_path = "{pki.ca_cert}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"

[profile.elsewhere]
address = "127.0.0.1:1"
"""
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config_file))
    handshakes = len(mtls_proxy.peer_certs)

    config = connect_config()
    assert config["target_host"] == mtls_proxy.address
    assert config["tls"].domain == "localhost"
    await _assert_rpc_works(await _connect())
    assert [_client_cn(cert) for cert in mtls_proxy.peer_certs[handshakes:]][-1:] == ["test-worker"]

    monkeypatch.setenv("TEMPORAL_PROFILE", "elsewhere")
    assert connect_config()["target_host"] == "127.0.0.1:1"
    assert "tls" not in connect_config()


# ---------------------------------------------------------------- e. describe() and the defaults (no server)


def test_describe_never_shows_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-api-key-value"
    monkeypatch.setenv("TEMPORAL_API_KEY", secret)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "example.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "prod.acct")

    config = connect_config()
    assert config["api_key"] == secret and config["tls"] is True  # an API key turns TLS on
    text = describe(config)
    assert secret not in text
    assert text == "example.tmprl.cloud:7233 namespace prod.acct, TLS, API key set"

    monkeypatch.setenv("TEMPORAL_TLS", "false")
    assert describe(connect_config()) == "example.tmprl.cloud:7233 namespace prod.acct, no TLS, API key set"


async def test_failure_message_never_shows_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-api-key-value"
    monkeypatch.setenv("TEMPORAL_API_KEY", secret)
    monkeypatch.setenv("TEMPORAL_TLS", "false")
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")  # nobody listens
    with pytest.raises(RuntimeError) as raised:
        await _connect()
    assert secret not in str(raised.value)
    assert "API key set" in str(raised.value)


def test_envconfig_address_wins_over_project_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "TEMPORAL_ADDRESS", "project-default:7233")
    monkeypatch.setattr(settings, "TEMPORAL_NAMESPACE", "project-ns")
    assert connect_config() == {"target_host": "project-default:7233", "namespace": "project-ns"}

    monkeypatch.setenv("TEMPORAL_ADDRESS", "from-env:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "env-ns")
    assert connect_config() == {"target_host": "from-env:7233", "namespace": "env-ns"}
    assert connect_config(namespace="override")["namespace"] == "override"


def test_tls_settings_without_an_address_use_the_project_default(monkeypatch: pytest.MonkeyPatch, pki: TestPKI) -> None:
    monkeypatch.setattr(settings, "TEMPORAL_ADDRESS", "127.0.0.1:7233")
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca_cert))
    config = connect_config()
    assert config["target_host"] == "127.0.0.1:7233"
    assert isinstance(config["tls"], TLSConfig) and config["tls"].server_root_ca_cert == pki.ca_cert.read_bytes()
