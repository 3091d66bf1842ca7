"""``starter.py plates``: start numbering, transfer and after-numbering service cases (seed 004).

Drive them with the generic ``starter.py update WORKFLOW_ID NAME JSON`` and read them with
``starter.py status WORKFLOW_ID``; ``starter.py vehicle VIN`` shows the registry's record.
"""

from __future__ import annotations

import uuid
from typing import Any

import typer
from pydantic import BaseModel

from cli.common import connect, console, parse_json_arg, run, start_case
from domain.commands import Rejected, parse
from lifecycles import plate_services, plates

app = typer.Typer(no_args_is_help=True, help="Plates (شماره‌گذاری، نقل و انتقال، خدمات بعد از شماره‌گذاری).")
numbering = typer.Typer(no_args_is_help=True, help="VehicleNumbering: a vehicle's first plate.")
transfer = typer.Typer(no_args_is_help=True, help="PlateTransfer: a sale at the plate centre.")
service = typer.Typer(
    no_args_is_help=True,
    help="PlateService: duplicate card/document, lost or damaged plates, part change, scrapping, unpermitted change "
    "(article 30), historic traffic permit, change of use.",
)
app.add_typer(numbering, name="numbering")
app.add_typer(transfer, name="transfer")
app.add_typer(service, name="service")


def _checked(model: type[BaseModel], payload: dict[str, Any]) -> None:
    """Refuse malformed input here, before a workflow is started only to fail."""
    try:
        parse(model, payload)
    except Rejected as err:
        raise typer.BadParameter(str(err)) from None


async def start_plate_case(
    workflow_type: str, payload: dict[str, Any], prefix: str, summary: str, by: tuple[str, str], workflow_id: str | None = None
) -> str:
    client = await connect()
    workflow_id = workflow_id or f"{prefix}-{uuid.uuid4().hex[:12]}"
    return await start_case(client, workflow_type, payload, workflow_id, "Open", summary, by=by)


@numbering.command("start")
def numbering_start(
    payload: str = typer.Argument(
        ...,
        help='{"vin", "category", "vehicle": {"kind", "production_year", "fuel", "production_date", "customs_cleared_on"}, "owner": {"national_id", "full_name"}, ...}; - reads stdin',
    ),
    workflow_id: str | None = typer.Option(None, "--id"),
) -> None:
    """Open a numbering case (categories: imported, auction, temporary_transit, historic, veteran)."""
    data = parse_json_arg(payload)
    _checked(plates.NumberingStart, data)
    label = plates.CATEGORY_LABELS[data["category"]]
    by = ("owner", data["owner"]["national_id"])
    console.print(run(start_plate_case("VehicleNumbering", data, "numbering", f"شماره‌گذاری {label}", by, workflow_id)))


@transfer.command("start")
def transfer_start(
    payload: str = typer.Argument(
        ..., help='{"vin", "seller": {"national_id"}, "buyer": {"national_id", "full_name"}}; - reads stdin'
    ),
    workflow_id: str | None = typer.Option(None, "--id"),
) -> None:
    """Open a transfer case; the registry's owner must be the seller."""
    data = parse_json_arg(payload)
    _checked(plates.TransferStart, data)
    by = ("seller", data["seller"]["national_id"])
    console.print(run(start_plate_case("PlateTransfer", data, "transfer", "نقل و انتقال", by, workflow_id)))


@service.command("start")
def service_start(
    payload: str = typer.Argument(
        ...,
        help='{"service", "vin", "owner": {"national_id", "full_name"}, "change"?, "with_government_incentive"?, '
        '"accident"?, "trip"?, "use_change"?}; - reads stdin',
    ),
    workflow_id: str | None = typer.Option(None, "--id"),
) -> None:
    """Open a service case: duplicate_vehicle_card, duplicate_ownership_document,
    lost_or_stolen_plates, damaged_plates, part_change (with change), scrapping (with
    with_government_incentive, or accident for a historic car), unpermitted_change (the article-30
    fine), historic_traffic_permit (with trip), change_of_use (with use_change); see ``service list``."""
    data = parse_json_arg(payload)
    _checked(plate_services.ServiceStart, data)
    label = plate_services.SERVICES[data["service"]].label_fa
    by = ("owner", data["owner"]["national_id"])
    console.print(run(start_plate_case("PlateService", data, "plate-service", label, by, workflow_id)))


@service.command("list")
def service_list() -> None:
    """The services and their checklists (seed 004)."""
    for name, definition in plate_services.SERVICES.items():
        docs = ", ".join(f"{r.kind}{' (' + r.only_for + ')' if r.only_for else ''}" for r in definition.documents)
        console.print(f"[bold]{name}[/bold] — {definition.label_fa}: {docs}")
