"""Connecting to Temporal the way the ``temporal`` CLI does: Temporal's environment configuration.

``temporalio.envconfig`` reads the profile named by ``TEMPORAL_PROFILE`` (default ``default``) from
the TOML file named by ``TEMPORAL_CONFIG_FILE`` (default ``~/.config/temporalio/temporal.toml``), then
lets the environment override it: ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
``TEMPORAL_TLS``, ``TEMPORAL_TLS_CLIENT_CERT_PATH``, ``TEMPORAL_TLS_CLIENT_KEY_PATH``,
``TEMPORAL_TLS_SERVER_CA_CERT_PATH``, ``TEMPORAL_TLS_SERVER_NAME``, ``TEMPORAL_GRPC_META_*``...
The project's defaults (``settings.TEMPORAL_ADDRESS``, ``settings.TEMPORAL_NAMESPACE``) only fill
what that configuration leaves out. An API key turns TLS on unless ``TEMPORAL_TLS=false``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import TLSConfig

import settings

if TYPE_CHECKING:
    from temporalio.converter import DataConverter


def connect_config(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect``: envconfig's profile, the project's defaults, then ``overrides``."""
    config: dict[str, Any] = dict(ClientConfigProfile.load().to_client_connect_config())
    if not config.get("target_host"):
        config["target_host"] = settings.TEMPORAL_ADDRESS or "127.0.0.1:7233"
    if not config.get("namespace"):
        config["namespace"] = settings.TEMPORAL_NAMESPACE or "default"
    config.update(overrides)
    return config


async def connect(*, data_converter: DataConverter | None = None, **overrides: Any) -> Client:
    """A client connected as :func:`connect_config` says, with the encrypting data converter unless told otherwise.

    Raises ``RuntimeError`` naming the address, whether TLS was used and the cause (never a secret).
    """
    if data_converter is None:
        from security.codec import data_converter as encrypted_converter

        data_converter = encrypted_converter()
    config = connect_config(**overrides)
    try:
        # Headers are encrypted like payloads (a worker's activities carry audit rows in one).
        return await Client.connect(**config, data_converter=data_converter, header_codec_behavior=HeaderCodecBehavior.CODEC)
    except Exception as error:
        cause = f"{type(error).__name__}: {error}"
        api_key = config.get("api_key")
        if api_key:
            cause = cause.replace(str(api_key), "<api key>")
        raise RuntimeError(f"cannot connect to Temporal at {describe(config)}: {cause}") from error


def describe(config: dict[str, Any]) -> str:
    """One line for logs, without secrets: ``127.0.0.1:7233 namespace default, TLS (mTLS client cert), API key set``."""
    parts = [f"{config.get('target_host') or '?'} namespace {config.get('namespace') or 'default'}"]
    tls = config.get("tls")
    if isinstance(tls, TLSConfig):
        details = []
        if tls.client_cert is not None:
            details.append("mTLS client cert")
        if tls.server_root_ca_cert is not None:
            details.append("custom server CA")
        if tls.domain:
            details.append(f"server name {tls.domain}")
        parts.append("TLS" + (f" ({', '.join(details)})" if details else ""))
    elif tls or (tls is None and config.get("api_key")):  # the SDK turns TLS on for an API key unless told not to
        parts.append("TLS")
    else:
        parts.append("no TLS")
    if config.get("api_key"):
        parts.append("API key set")
    if config.get("rpc_metadata"):
        parts.append("gRPC metadata " + ", ".join(sorted(config["rpc_metadata"])))
    return ", ".join(parts)
