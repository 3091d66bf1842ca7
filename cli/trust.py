"""``starter.py token`` and ``starter.py codec-server``: the dev identity provider and the payload codec for people.

``token`` prints a token signed with the dev key (``ACTOR_SIGNING_KEY_FILE``), as the deployment's
identity provider would issue one; ``codec-server`` serves Temporal's remote codec protocol so
the Web UI and ``temporal --codec-endpoint`` read the encrypted payloads.
"""

from __future__ import annotations

from datetime import timedelta

import typer

import settings
from cli.common import console
from security.connection import connect_config
from security.tokens import ROLES, SigningKey


def token(
    role: str = typer.Option(..., help=f"one of: {', '.join(sorted(ROLES))}"),
    id: str = typer.Option(..., "--id", help="the subject: a national id, or the id of the bank, organisation, officer..."),
    workflow_id: str = typer.Option(..., "--workflow-id", help="the case the token acts on (claim wid)"),
    update: str | None = typer.Option(None, "--update", help="bind the token to one update (claim upd); 'start' for a start"),
    minutes: int = typer.Option(5, min=1, max=15, help="lifetime (the contract allows at most 15 minutes)"),
    centre: str | None = typer.Option(
        None, "--centre", help="an officer's numbering centre (claim ctr): a centre_id of the reference data's numbering_centres"
    ),
) -> None:
    """Print an actor token for one command (the audience is the namespace of Temporal's configuration)."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of: {', '.join(sorted(ROLES))}")
    try:
        key = SigningKey.load(settings.actor_signing_key_file())
    except (OSError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None
    namespace = connect_config()["namespace"]
    print(
        key.mint(
            role=role,
            sub=id,
            workflow_id=workflow_id,
            namespace=namespace,
            update=update,
            lifetime=timedelta(minutes=minutes),
            centre=centre,
        )
    )


def codec_server(
    port: int = typer.Option(8081, help="port to listen on (127.0.0.1)"),
    ui_origin: list[str] = typer.Option([], "--ui-origin", help="a Web UI origin allowed to call it (default the dev UI's)"),
) -> None:
    """Serve /encode and /decode for the Web UI and the temporal CLI; needs CODEC_AUTH_TOKEN (./dev demo makes one)."""
    from security import codec_server as server

    argv = ["--port", str(port)]
    for origin in ui_origin:
        argv += ["--ui-origin", origin]
    raise typer.Exit(server.main(argv))
