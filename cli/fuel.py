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


# --- issuance: the FuelCard case (issue 12) ---

card = typer.Typer(
    no_args_is_help=True,
    help="FuelCard: a card's request (new or duplicate), its issue, dispatch or collection, tracking, PINs.",
)
app.add_typer(card, name="card")

_OFFICE = typer.Option("office-1", "--office", help="the post office / Police+10 office / regional office id (token subject)")


@card.command("request")
def card_request(
    payload: str = typer.Argument(
        ...,
        help='{"vin", "plate", "kind": "new"|"duplicate", "reason"?, "channel": "post_office"|"police10"|"ussd"|"app", '
        '"applicant": {"national_id", "full_name", "sim_owner_national_id"?}, "legal_entity"?, '
        '"delivery": {"method": "post", "address", "postcode"} | {"method": "collect"}}; - reads stdin',
    ),
    office: str = _OFFICE,
    workflow_id: str | None = typer.Option(None, "--id"),
) -> None:
    """Open a fuel card request; the channel decides who starts it (a post office, a Police+10 office,
    or for USSD/app the owner themself, with the SIM inquiry's ``sim_owner_national_id``)."""
    from cli.common import connect, parse_json_arg, start_case
    from domain.commands import Rejected, parse
    from lifecycles import fuel_card

    data = parse_json_arg(payload)
    try:
        parse(fuel_card.FuelCardStart, data)
    except Rejected as err:
        raise typer.BadParameter(str(err)) from None
    if data["channel"] == "numbering":
        raise typer.BadParameter("a request through numbering is started by the vehicle's numbering case only")
    role = fuel_card.CHANNEL_ROLES[data["channel"]]
    by = (role, data["applicant"]["national_id"] if role == "owner" else office)
    summary = "درخواست کارت سوخت المثنی" if data["kind"] == "duplicate" else "درخواست کارت سوخت"

    async def go() -> str:
        client = await connect()
        return await start_case(
            client, "FuelCard", data, workflow_id or f"fuel-card-{uuid.uuid4().hex[:12]}", "Requested", summary, by=by
        )

    console.print(run(go()))


def _card_update(workflow_id: str, name: str, role: str, sub: str, fields: dict[str, Any]) -> None:
    from cli.common import print_status, send_update

    result = run(send_update(workflow_id, name, {"actor": {"role": role, "id": sub}, **fields}))
    if result is not None:
        print_status(workflow_id, result)


@card.command("issued")
def card_issued(workflow_id: str, card_number: str, office: str = _OFFICE) -> None:
    """The issuer (a regional office, role fuel_office) reports the card made: it is recorded and its
    PIN set to the last four digits of the owner's national id (kept only as a hash)."""
    _card_update(workflow_id, "issued", "fuel_office", office, {"card_number": card_number})


@card.command("postage")
def card_postage(workflow_id: str, payment_ref: str, amount_rial: int, bank: str = typer.Option(..., "--bank")) -> None:
    """A bank reports the postage paid (a card sent by post)."""
    _card_update(workflow_id, "pay_postage", "bank", bank, {"payment_ref": payment_ref, "amount_rial": amount_rial})


@card.command("dispatch")
def card_dispatch(workflow_id: str, tracking_number: str, office: str = _OFFICE) -> None:
    """The post office sends the card («شماره مرسوله» = tracking number)."""
    _card_update(workflow_id, "dispatch", "post_office", office, {"tracking_number": tracking_number})


@card.command("deliver")
def card_deliver(workflow_id: str, office: str = _OFFICE) -> None:
    """The post delivered the card to the applicant's address."""
    _card_update(workflow_id, "deliver", "post_office", office, {})


@card.command("collect")
def card_collect(
    workflow_id: str,
    collector_national_id: str,
    vehicle_document: list[str] = typer.Option(
        ["vehicle_card"], "--document", help="vehicle_card, ownership_certificate or title_deed (repeatable)"
    ),
    office: str = _OFFICE,
) -> None:
    """The card is handed over at the post office on the vehicle's documents and the owner's valid ID."""
    _card_update(
        workflow_id,
        "collect",
        "post_office",
        office,
        {"collector_national_id": collector_national_id, "vehicle_documents": vehicle_document, "owner_id_document": True},
    )


@app.command("track")
@card.command("track")
def card_track(vin: str | None = typer.Option(None, "--vin"), plate: str | None = typer.Option(None, "--plate")) -> None:
    """A vehicle's fuel card request by VIN or plate, from the registry: the open one (else the
    latest), its state and its dates in the Jalali calendar."""
    from activities.fuel_cards import track
    from domain.identifiers import normalize_vin

    if (vin is None) == (plate is None):
        raise typer.BadParameter("give --vin or --plate")
    if vin is not None:
        try:
            vin = normalize_vin(vin)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None
    found = track(vin=vin, plate=plate.strip() if plate else None)
    if found is None:
        console.print("[red]no fuel card request for this vehicle[/red]")
        raise typer.Exit(1)
    _print(found)


def _pin(kind: str, card_number: str, new_pin: str, current_pin: str | None, who: str) -> None:
    from activities.fuel_cards import PinChange, PinRefused, change_pin, pin_target, reset_pin
    from cli.common import connect, signer

    role = "station" if kind == "change_pin" else "fuel_office"

    async def go() -> dict[str, Any]:
        client = await connect()
        token = await signer(client).token(role=role, sub=who, workflow_id=pin_target(card_number), update=kind)
        change = PinChange(token, card_number, new_pin, current_pin, namespace=client.namespace)
        return (change_pin if kind == "change_pin" else reset_pin)(change)

    try:
        _print(run(go()))
    except PinRefused as err:
        console.print(f"[red]refused:[/red] {err}")
        raise typer.Exit(1) from None


@card.command("change-pin")
def card_change_pin(
    card_number: str,
    station: str = typer.Option(..., "--station"),
    current_pin: str = typer.Option(..., prompt=True, hide_input=True),
    new_pin: str = typer.Option(..., prompt=True, hide_input=True),
) -> None:
    """At a station: change a card's PIN, given the current one (seed 002 «به جایگاه سوخت بروید»)."""
    _pin("change_pin", card_number, new_pin, current_pin, station)


@card.command("reset-pin")
def card_reset_pin(
    card_number: str,
    office: str = typer.Option(..., "--office"),
    new_pin: str = typer.Option(..., prompt=True, hide_input=True),
) -> None:
    """At a regional office only: reset a forgotten PIN (seed 002 «تنها راه بازیابی آن مراجعه به نواحی»)."""
    _pin("reset_pin", card_number, new_pin, None, office)
