"""Commands for any case, whatever its lifecycle: status, update, list."""

from __future__ import annotations

import json

import typer

from cli.common import connect, console, parse_json_arg, print_status, run, send_update

app = typer.Typer(no_args_is_help=True)


@app.command()
def status(workflow_id: str, as_json: bool = typer.Option(False, "--json", help="print the raw status object")) -> None:
    """Show a case's state, fields and history (Persian labels, Jalali dates)."""

    async def go() -> None:
        client = await connect()
        result = await client.get_workflow_handle(workflow_id).query("status")
        if as_json:
            print(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            print_status(workflow_id, result)

    run(go())


@app.command()
def update(
    workflow_id: str,
    name: str = typer.Argument(..., help="the update, e.g. submit, pay_fee, decide_permit"),
    payload: str = typer.Argument(..., help='the JSON object, with "actor"; - reads stdin'),
) -> None:
    """Send any update of the contract to a case, as a service would."""
    result = run(send_update(workflow_id, name, parse_json_arg(payload)))
    if result is not None:
        print_status(workflow_id, result)


@app.command("list")
def list_cases(
    state: str | None = typer.Option(None, help="only cases in this state (CaseState)"),
    workflow_type: str | None = typer.Option(None, "--type", help="TradeOrder, ImportPurchase, ..."),
    limit: int = 50,
) -> None:
    """List cases by the CaseState search attribute."""

    async def go() -> None:
        client = await connect()
        clauses = ["CaseState IS NOT NULL"]
        if state:
            clauses.append(f"CaseState = '{state}'")
        if workflow_type:
            clauses.append(f"WorkflowType = '{workflow_type}'")
        count = 0
        async for wf in client.list_workflows(" AND ".join(clauses), limit=limit):
            states = wf.search_attributes.get("CaseState") or ["?"]
            console.print(f"{wf.id}  {wf.workflow_type}  {states[0]}  {wf.status.name if wf.status else ''}")
            count += 1
        if not count:
            console.print("no cases")

    run(go())
