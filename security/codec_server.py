"""Temporal's remote codec server, so people allowed to see payloads can read them in the UI or CLI.

Payloads are encrypted in Temporal (see :mod:`security.codec`); the Web UI and
``temporal --codec-endpoint URL --codec-auth "Bearer TOKEN"`` send them here to decrypt. The keys
never leave this process, every request needs the bearer token, and browsers may call it only from
the configured UI origins (CORS), so a random web page cannot use a logged-in operator's browser.

The Web UI's codec setting takes an endpoint but no bearer token, so the server also answers
``/ui/UI_TOKEN/decode`` (decode only): the UI's endpoint is ``http://HOST:PORT/ui/UI_TOKEN``. The UI
shows its settings, that endpoint included, to whoever can load it, so ``UI_TOKEN`` is a
credential of its own (``CODEC_UI_TOKEN``), worth exactly what access to the UI is worth: it can
read, never encode, and the CLI's bearer token stays secret. ``./dev demo`` wires it into the
dev server's UI; a production UI belongs behind its own login.

Run: ``python -m security.codec_server --port 8081 [--host 127.0.0.1] [--ui-origin URL ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import sys
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
DEFAULT_UI_ORIGINS = ("http://127.0.0.1:8233", "http://localhost:8233")
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Above aiohttp's 1 MiB default: one history event may carry several payloads of up to 2 MiB each."""

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    codec: PayloadCodec, auth_token: str, allowed_origins: Sequence[str], ui_token: str | None = None
) -> web.Application:
    """``POST /encode`` and ``POST /decode`` over ``temporal.api.common.v1.Payloads`` proto3 JSON
    for the bearer token; ``POST /ui/UI_TOKEN/decode`` for the Web UI when ``ui_token`` is given."""
    if not auth_token:
        raise ValueError("the codec server needs a non-empty auth token")
    if ui_token is not None and (not ui_token or ui_token == auth_token):
        raise ValueError("the UI's token must be non-empty and differ from the bearer token")
    origins = frozenset(allowed_origins)
    expected = auth_token.encode("utf-8")
    expected_ui = (ui_token or "").encode("utf-8")

    def authorized(request: web.Request) -> bool:
        in_path = request.match_info.get("token")
        if in_path is not None:
            return bool(expected_ui) and hmac.compare_digest(in_path.encode("utf-8"), expected_ui)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode("utf-8"), expected)

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and origin in origins
        if request.method == "OPTIONS" and origin is not None:
            # A browser's preflight carries no credentials: answer it on the origin alone.
            if not allowed:
                return web.Response(status=403, text="origin not allowed")
            response: web.StreamResponse = await handler(request)
            response.headers.update(
                {
                    "Access-Control-Allow-Methods": "POST",
                    "Access-Control-Allow-Headers": "content-type,x-namespace,authorization",
                    "Access-Control-Allow-Credentials": "true",
                    "Access-Control-Max-Age": "600",
                }
            )
        elif not authorized(request):
            response = web.Response(status=401, text="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        else:
            try:
                response = await handler(request)
            except web.HTTPException as error:  # 400/404/405: answered here so the browser may read why
                response = web.Response(status=error.status, text=error.text, headers=error.headers)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = origin  # type: ignore[assignment]
            response.headers["Vary"] = "Origin"
        return response

    async def read_payloads(request: web.Request) -> Payloads:
        try:
            return json_format.Parse(await request.text(), Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, ValueError):
            # The parser's message may quote the body; the body may be secret.
            raise web.HTTPBadRequest(text="request body is not temporal.api.common.v1.Payloads JSON") from None

    def reply(payloads: Payloads) -> web.Response:
        return web.Response(text=json_format.MessageToJson(payloads), content_type="application/json")

    async def encode(request: web.Request) -> web.Response:
        payloads = await read_payloads(request)
        return reply(Payloads(payloads=await codec.encode(payloads.payloads)))

    async def decode(request: web.Request) -> web.Response:
        payloads = await read_payloads(request)
        try:
            decoded = await codec.decode(payloads.payloads)
        except ValueError as error:  # unknown key or failed authentication; names the key, never the data
            raise web.HTTPBadRequest(text=str(error)) from None
        return reply(Payloads(payloads=decoded))

    async def preflight(request: web.Request) -> web.Response:
        return web.Response(status=200)

    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY_BYTES)
    for path, handler in (("/encode", encode), ("/decode", decode), ("/ui/{token}/decode", decode)):
        app.router.add_post(path, handler)
        app.router.add_route("OPTIONS", path, preflight)
    return app


async def serve(
    host: str,
    port: int,
    codec: PayloadCodec,
    auth_token: str,
    allowed_origins: Sequence[str],
    *,
    ui_token: str | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve until cancelled; ``on_started`` runs once the port is bound."""
    runner = web.AppRunner(build_app(codec, auth_token, allowed_origins, ui_token))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        if on_started is not None:
            on_started()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m security.codec_server``: keys from PAYLOAD_KEYS_FILE, token from CODEC_AUTH_TOKEN."""
    import settings
    from security.codec import EncryptionCodec, PayloadKeys

    parser = argparse.ArgumentParser(prog="python -m security.codec_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--ui-origin",
        action="append",
        dest="ui_origins",
        metavar="ORIGIN",
        help=f"a Web UI origin browsers may call from; repeatable (default {' and '.join(DEFAULT_UI_ORIGINS)})",
    )
    args = parser.parse_args(argv)

    token = settings.codec_auth_token()
    if not token:
        print(
            "codec server refuses to start: no auth token (set CODEC_AUTH_TOKEN, or run ./dev demo to create one in .data/)",
            file=sys.stderr,
        )
        return 2
    try:
        keys = PayloadKeys.load()
    except (FileNotFoundError, ValueError) as error:
        print(f"codec server refuses to start: {error}", file=sys.stderr)
        return 2

    def started() -> None:
        print(f"codec server on http://{args.host}:{args.port}", flush=True)

    try:
        asyncio.run(
            serve(
                args.host,
                args.port,
                EncryptionCodec(keys),
                token,
                args.ui_origins or DEFAULT_UI_ORIGINS,
                ui_token=settings.codec_ui_token(),
                on_started=started,
            )
        )
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
