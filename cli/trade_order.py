"""``starter.py trade-order``: start and copy trade-order files."""

from __future__ import annotations

import asyncio
import uuid

import typer

from cli.common import connect, console, run, start_case
from domain.identity import national_id_problem

app = typer.Typer(no_args_is_help=True, help="Trade-order registration (ثبت سفارش).")


async def start_trade_order(
    national_id: str, full_name: str, sections: dict | None = None, copied_from: str | None = None, workflow_id: str | None = None
) -> str:
    client = await connect()
    workflow_id = workflow_id or f"trade-order-{uuid.uuid4().hex[:12]}"
    payload: dict = {"applicant": {"national_id": national_id, "full_name": full_name}}
    if sections:
        payload["sections"] = sections
    if copied_from:
        payload["copied_from"] = copied_from
    return await start_case(
        client, "TradeOrder", payload, workflow_id, "Draft", "ثبت سفارش خودروی جانبازان", by=("applicant", national_id)
    )


@app.command()
def start(national_id: str, full_name: str, workflow_id: str | None = typer.Option(None, "--id")) -> None:
    """Open a new file (Draft) for an applicant."""
    problem = national_id_problem(national_id)
    if problem:
        raise typer.BadParameter(problem)
    console.print(run(start_trade_order(national_id, full_name, workflow_id=workflow_id)))


@app.command()
def copy(workflow_id: str) -> None:
    """A new Draft with the same data as an existing file (seed 003 «کپی»)."""

    async def go() -> str:
        client = await connect()
        status = await client.get_workflow_handle(workflow_id).query("status")
        sections = {k: status[k] for k in ("main_info", "transport", "financials", "goods", "documents")}
        applicant = status["applicant"]
        return await start_trade_order(applicant["national_id"], applicant["full_name"], sections, copied_from=workflow_id)

    console.print(run(go()))


@app.command()
def amend(
    workflow_id: str,
    kind: str = typer.Option(..., help="edit (pays the fee difference) or renewal (pays the full fee)"),
) -> None:
    """Edit or renew the registered order of a Registered file (the first one paid wins; others are refused)."""
    if kind not in ("edit", "renewal"):
        raise typer.BadParameter("kind is edit or renewal")

    async def go() -> str:
        client = await connect()
        status = await client.get_workflow_handle(workflow_id).query("status")
        if status["state"] != "Registered":
            raise typer.BadParameter(f"{workflow_id} is {status['state']}, not Registered")
        # Each amendment its own id: ids are never reused (the registry keys on them).
        amendment_id = f"trade-order-amendment-{status['order_number']}-{uuid.uuid4().hex[:8]}"
        summary = f"{'ویرایش' if kind == 'edit' else 'تمدید'} ثبت سفارش {status['order_number']}"
        await start_case(
            client,
            "TradeOrderAmendment",
            {"order_workflow_id": workflow_id, "kind": kind},
            amendment_id,
            "Draft",
            summary,
            by=("applicant", status["applicant"]["national_id"]),
        )
        handle = client.get_workflow_handle(amendment_id)
        for _ in range(100):  # commands are refused until the amendment has loaded its order
            if (await handle.query("status"))["order_number"]:
                break
            await asyncio.sleep(0.1)
        return amendment_id

    console.print(run(go()))
