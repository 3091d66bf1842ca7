"""``starter.py fuel``: fuel cards (seed 002) — run a charge cycle now, record a station purchase,
show a card's balance, add a dated price or quota.

Purchases and balances go to the registry directly (a station's sale is a registry write, not a
case); a charge cycle is the ``FuelCharge`` workflow, as the schedule starts it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import typer
from temporalio.exceptions import WorkflowAlreadyStartedError

import settings
from cli.common import console, run
from lifecycles import fuel_cards as rules

app = typer.Typer(no_args_is_help=True, help="Fuel cards: charge cycle, station purchases, balances, dated prices and quotas.")


def _print(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _jalali_start(day: str) -> Any:
    try:
        year, month, d = (int(part) for part in day.split("-"))
        return rules.jalali_day_start(year, month, d)
    except ValueError:
        raise typer.BadParameter(f"a Jalali day is YYYY-MM-DD, not {day!r}") from None


@app.command("charge")
def charge(
    period: str | None = typer.Option(None, help="Jalali half-month YYYY-MM-1 or YYYY-MM-2 (default: the current one, Tehran)"),
    chunk: int | None = typer.Option(None, help="cards per chunk (default policy.FUEL_CHARGE_CHUNK_CARDS)"),
    wait: bool = typer.Option(True, help="wait for the report"),
) -> None:
    """Run the charge cycle for a period now (a period already charged answers its report)."""
    from cli.common import connect
    from domain import policy
    from workflows.fuel_charge import FuelChargeInput, FuelChargeWorkflow

    if period is not None:
        try:
            rules.parse_period(period)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None

    async def go() -> None:
        client = await connect()
        workflow_id = f"fuel-charge-{period or 'now'}-{uuid.uuid4().hex[:8]}"
        try:
            handle = await client.start_workflow(
                FuelChargeWorkflow.run,
                FuelChargeInput(period, chunk or policy.FUEL_CHARGE_CHUNK_CARDS),
                id=workflow_id,
                task_queue=settings.TEMPORAL_TASK_QUEUE,
                static_summary=f"شارژ کارت سوخت {period or ''}".strip(),
            )
        except WorkflowAlreadyStartedError:
            console.print(f"[red]{workflow_id} is running already[/red]")
            raise typer.Exit(1) from None
        console.print(f"started {workflow_id}")
        if wait:
            _print(await handle.result())

    run(go())


@app.command("purchase")
def purchase(
    station_id: str,
    station_txn_id: str,
    card_number: str,
    litres: str = typer.Argument(..., help="litres as the pump reports them (at most three decimals)"),
    grade: str = typer.Option("regular", help="regular or super"),
) -> None:
    """Record a station's sale on a card (once per station transaction id): quota first, then free."""
    from activities.fuel_cards import PurchaseInput, PurchaseRefused
    from activities.fuel_cards import purchase as record

    try:
        _print(record(PurchaseInput(station_id, station_txn_id, card_number, litres, grade)))  # type: ignore[arg-type]
    except PurchaseRefused as err:
        console.print(f"[red]refused:[/red] {err}")
        raise typer.Exit(1) from None


@app.command("balance")
def balance(card_number: str) -> None:
    """A card's status, quota balance, cap and last charges."""
    from activities.fuel_cards import card_balance

    standing = card_balance(card_number)
    if standing is None:
        console.print(f"[red]no fuel card {card_number}[/red]")
        raise typer.Exit(1)
    _print(standing)


@app.command("price")
def price(
    kind: str = typer.Argument(..., help="quota, free or super"),
    rial_per_litre: int = typer.Argument(..., help="rials per litre (a toman is ten rials)"),
    effective_from: str = typer.Option(..., "--from", help="Jalali day YYYY-MM-DD; in force from 00:00 Tehran"),
) -> None:
    """Add a dated price; purchases from that day on pay it."""
    from activities.fuel_cards import set_price

    try:
        set_price(kind, rial_per_litre, _jalali_start(effective_from))
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    console.print(f"{kind}: {rial_per_litre:,} rials a litre from {effective_from}")


@app.command("quota")
def quota(
    use: str,
    litres: int = typer.Argument(..., help="litres per charge"),
    charges_per_month: int = typer.Option(1, help="1, or 2 for heavy vehicles"),
    worn_out_class: str = typer.Option(..., help="the row of seed 002's worn-out table (private_car, taxi, ...)"),
    effective_from: str = typer.Option(..., "--from", help="Jalali day YYYY-MM-DD; charge periods starting then on apply it"),
) -> None:
    """Add a dated quota for a use."""
    from activities.fuel_cards import set_quota

    try:
        set_quota(use, litres, charges_per_month, worn_out_class, _jalali_start(effective_from))
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    console.print(f"{use}: {litres} L × {charges_per_month} a month from {effective_from}")
