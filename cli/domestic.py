"""``starter.py domestic``: stages and orders of the domestic integrated sales scheme (seed 000).

Driving a case goes through the generic commands, e.g.
``starter.py update <scheme-case> open_change_window '{"actor": {"role": "operator", "id": "op-1"}, ...}'``
or ``starter.py update <order-case> cancel_order '{"actor": {"role": "applicant", "id": "..."}}'``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import typer

from cli.common import connect, console, run, start_case
from domain.identity import national_id_problem

app = typer.Typer(no_args_is_help=True, help="Domestic integrated sales scheme (سامانه یکپارچه عرضه خودروهای داخلی).")


async def start_scheme(scheme_id: str, deposit_rial: int, offerings: list[dict[str, Any]], operator: str) -> str:
    """Start a ``DomesticScheme`` case (one stage) as ``operator``; returns its workflow id."""
    client = await connect()
    payload = {"scheme_id": scheme_id, "deposit_rial": deposit_rial, "offerings": offerings}
    return await start_case(
        client,
        "DomesticScheme",
        payload,
        f"domestic-scheme-{scheme_id}",
        "Registering",
        "مرحله طرح یکپارچه عرضه خودروهای داخلی",
        by=("operator", operator),
    )


async def start_order(
    national_id: str, full_name: str, scheme_id: str, bank: str, account: str, amount_rial: int, choice: dict[str, Any] | None
) -> str:
    """Start a ``DomesticOrder`` case as the applicant; returns its workflow id."""
    client = await connect()
    payload: dict[str, Any] = {
        "scheme_id": scheme_id,
        "applicant": {"national_id": national_id, "full_name": full_name},
        "deposit": {"bank": bank, "account": account, "amount_rial": amount_rial},
    }
    if choice is not None:
        payload["choice"] = choice
    return await start_case(
        client,
        "DomesticOrder",
        payload,
        f"domestic-order-{uuid.uuid4().hex[:12]}",
        "Registered",
        "سفارش خودروی داخلی",
        by=("applicant", national_id),
    )


@app.command("scheme-start")
def scheme_start(
    scheme_id: str,
    deposit_rial: int = typer.Option(..., help="the escrow deposit an order blocks, in rials"),
    offerings: str = typer.Option(..., help='JSON list: [{"model": "Tara", "delivery_year": 1402}, ...]'),
    operator: str = typer.Option("op-1", help="the operator starting the stage"),
) -> None:
    """Start a stage with its deposit and offerings (the 1402 offerings are the low-demand models)."""
    try:
        parsed = json.loads(offerings)
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"offerings: {err}") from None
    console.print(run(start_scheme(scheme_id, deposit_rial, parsed, operator)))


@app.command("order-start")
def order_start(
    national_id: str,
    full_name: str,
    scheme_id: str = typer.Option(..., help="the stage"),
    bank: str = typer.Option(..., help="escrow bank id (reference data escrow_banks), e.g. mellat"),
    account: str = typer.Option(..., help="the applicant's escrow account (حساب وکالتی)"),
    amount_rial: int = typer.Option(..., help="the blocked deposit in rials"),
    model: str | None = typer.Option(None, help="the chosen car; none: the 1403 priority"),
    delivery_year: int | None = typer.Option(None, help="1402 or 1403, with --model"),
) -> None:
    """Register an order with the deposit blocked; without a car chosen it holds the 1403 priority."""
    problem = national_id_problem(national_id)
    if problem:
        raise typer.BadParameter(problem)
    if (model is None) != (delivery_year is None):
        raise typer.BadParameter("give --model and --delivery-year together, or neither")
    choice = {"model": model, "delivery_year": delivery_year} if model is not None else None
    console.print(run(start_order(national_id, full_name, scheme_id, bank, account, amount_rial, choice)))
