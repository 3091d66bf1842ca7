"""Registry commands: exchange rates, reference data, the outbox, a vehicle's record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from sqlalchemy import select

from activities.import_purchase import erase_expired_codes
from cli.common import console
from domain.display import iso, jalali_datetime, rials
from domain.identifiers import canonical_text
from registry.db import migrate, session_scope
from registry.models import ExchangeRate, OutboxMessage, PlateRecord, Vehicle
from registry.refdata import DEFAULT_REFDATA, dump_refdata, load_refdata_file, set_rate

rates = typer.Typer(no_args_is_help=True, help="Central-bank exchange rates used for fees.")
refdata = typer.Typer(no_args_is_help=True, help="Reference data: tariffs, goods, foreign sellers, escrow banks.")


@rates.command("set")
def rates_set(
    currency: str,
    rial_per_unit: str,
    effective_at: str | None = typer.Option(None, help="ISO-8601 instant the rate is in force from (default: now)"),
) -> None:
    """Record the central bank's rate, e.g. ``rates set EUR 620000``."""
    try:
        value = Decimal(rial_per_unit)
    except InvalidOperation:
        raise typer.BadParameter("the rate must be a decimal number of rials") from None
    migrate()
    rate = set_rate(currency, value, datetime.fromisoformat(effective_at.replace("Z", "+00:00")) if effective_at else None)
    console.print(f"{rate.currency} = {rials(int(value))} from {jalali_datetime(rate.effective_at)}")


@rates.command("list")
def rates_list() -> None:
    migrate()
    with session_scope() as session:
        for r in session.scalars(select(ExchangeRate).order_by(ExchangeRate.effective_at)):
            print(
                json.dumps({"currency": r.currency, "rial_per_unit": str(r.rial_per_unit), "effective_at": iso(r.effective_at)})
            )


@refdata.command("load")
def refdata_load(path: Path = typer.Argument(DEFAULT_REFDATA, exists=True, dir_okay=False)) -> None:
    """Load a JSON file of reference data, replacing entries with the same key."""
    migrate()
    counts = load_refdata_file(path)
    console.print("loaded " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@refdata.command("show")
def refdata_show() -> None:
    migrate()
    with session_scope() as session:
        print(json.dumps(dump_refdata(session), ensure_ascii=False, indent=2))


def outbox(to: str | None = typer.Option(None, "--to", help="only messages to this national id")) -> None:
    """Print the notifications lifecycles sent, newest last, one JSON object a line."""
    migrate()
    with session_scope() as session:
        erase_expired_codes(session, datetime.now(UTC))  # a code past its time is not shown, nor kept
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if to:
            query = query.where(OutboxMessage.to == to)
        for m in session.scalars(query):
            row = {"to": m.to, "kind": m.kind, "text": m.text, "workflow_id": m.workflow_id, "at": iso(m.created_at)}
            if m.code is not None:
                row["code"] = m.code
            print(json.dumps(row, ensure_ascii=False))


def vehicle(vin: str) -> None:
    """Print the registry's record of a vehicle as one JSON object."""
    # As the registry spells VINs (a pasted one with spaces or lower case still finds the car).
    vin = canonical_text(vin).upper()
    migrate()
    with session_scope() as session:
        v = session.get(Vehicle, vin)
        if v is None:
            console.print(f"[red]no vehicle {vin} in the registry[/red]")
            raise typer.Exit(1)
        plates = session.scalars(select(PlateRecord).where(PlateRecord.vin == vin).order_by(PlateRecord.issued_at)).all()
        print(
            json.dumps(
                {
                    "vin": v.vin,
                    "owner_national_id": v.owner_national_id,
                    "plate": v.plate,
                    "title_transfer_locked_until": iso(v.title_transfer_locked_until),
                    "kind": v.kind,
                    "model": v.model,
                    "production_year": v.production_year,
                    "fuel": v.fuel,
                    "delivered_at": iso(v.delivered_at),
                    "colour": v.colour,
                    "scrapped_at": iso(v.scrapped_at),
                    "plates": [
                        {
                            "plate": p.plate,
                            "owner_national_id": p.owner_national_id,
                            "category": p.category,
                            "active": p.active,
                            "issued_at": iso(p.issued_at),
                            "ended_at": iso(p.ended_at),
                            "end_reason": p.end_reason,
                        }
                        for p in plates
                    ],
                },
                ensure_ascii=False,
            )
        )
