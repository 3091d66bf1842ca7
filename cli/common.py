"""What every CLI command shares: the client, signed commands, printing a case for a Persian-reading operator.

The client connects as the ``temporal`` CLI does (Temporal's environment configuration) and
encrypts every payload (``PAYLOAD_KEYS_FILE``). Commands are signed with the dev identity
provider's key (``ACTOR_SIGNING_KEY_FILE``): the operator writes ``"actor": {"role", "id"}`` and
the CLI turns it into a token, as a service would ask its identity provider for one.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from datetime import date
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

import settings
from domain.display import jalali_date, jalali_datetime, parse_instant, rials
from security.connection import connect as connect_to_temporal
from security.signer import ActorSigner
from workflows.common import CASE_STATE

console = Console()
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def connect() -> Client:
    try:
        return await connect_to_temporal()
    except (OSError, ValueError, RuntimeError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None


def signer(client: Client) -> ActorSigner:
    try:
        return ActorSigner.from_settings(client.namespace)
    except (OSError, ValueError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None


async def start_case(
    client: Client,
    workflow_type: str,
    payload: dict[str, Any],
    workflow_id: str,
    initial_state: str,
    summary: str,
    *,
    by: tuple[str, str],
) -> str:
    """Start a case on the lifecycles' task queue as ``by`` = (role, subject), with its CaseState
    and the UI summary set (the summary names no person: it is visible to every UI user)."""
    role, sub = by
    await client.start_workflow(
        workflow_type,
        await signer(client).start(workflow_id, payload, role=role, sub=sub),
        id=workflow_id,
        task_queue=settings.TEMPORAL_TASK_QUEUE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(CASE_STATE, initial_state)]),
        static_summary=summary,
    )
    return workflow_id


def parse_json_arg(text: str) -> dict[str, Any]:
    """A command's JSON object from the command line, or ``-`` to read it from stdin."""
    raw = sys.stdin.read() if text == "-" else text
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("the argument must be one JSON object")
    return value


def readable(key: str, value: Any) -> str:
    """A status value as an operator reads it: Jalali dates, rials with separators."""
    if value is None:
        return "—"
    if isinstance(value, str) and (key.endswith(("_at", "deadline", "_until")) or key == "at"):
        instant = parse_instant(value)
        return f"{jalali_datetime(instant)}  ({value})"
    if isinstance(value, str) and (key.endswith(("_date", "_due")) or key == "delivery_due"):
        try:
            return f"{jalali_date(date.fromisoformat(value))}  ({value})"
        except ValueError:
            return value
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith("_rial"):
        return rials(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def print_status(workflow_id: str, status: dict[str, Any]) -> None:
    console.print(f"[bold]{workflow_id}[/bold]  وضعیت: [cyan]{status.get('state_fa', '')}[/cyan] ({status['state']})")
    table = Table(show_header=False, box=None)
    for key, value in status.items():
        if key in ("history", "events", "state", "state_fa") or value in (None, [], {}):
            continue
        if isinstance(value, dict) and key != "allowed":
            for sub, inner in value.items():  # one level down, so section dates read as Jalali too
                # paid_rial.{"1","2","3"}: a numbered entry reads like its parent.
                table.add_row(f"{key}.{sub}", readable(key if str(sub).isdigit() else str(sub), inner))
            continue
        table.add_row(key, readable(key, value))
    console.print(table)
    history = Table("زمان (تهران)", "رویداد", "از", "به", "کاربر", title="سوابق تغییر وضعیت")
    # A status has the whole history; an update's result the transitions that command made.
    for h in status.get("history", status.get("events", [])):
        actor = h.get("actor") or {}
        history.add_row(
            jalali_datetime(parse_instant(h["at"])), h["event"], h["from"], h["to"], f"{actor.get('role')}:{actor.get('id')}"
        )
    console.print(history)


async def send_update(workflow_id: str, name: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    client = await connect()
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(name, await signer(client).command(workflow_id, name, payload))
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        console.print(f"[red]rejected:[/red] {getattr(cause, 'message', None) or err}")
    except RPCError as err:
        console.print(f"[red]error:[/red] {err.message}")
    raise typer.Exit(1)
