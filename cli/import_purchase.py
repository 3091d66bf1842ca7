"""``starter.py purchase``: register applicants for the imported-car scheme (خرید خودروی وارداتی).

Driving a case goes through the generic commands, e.g.
``starter.py update <id> allocate '{"actor": {"role": "operator", "id": "op-1"}, ...}'``.
"""

from __future__ import annotations

import uuid
from typing import Any

import typer

from cli.common import connect, console, run, start_case
from domain import policy
from domain.identity import national_id_problem

app = typer.Typer(no_args_is_help=True, help="Imported-car purchase (خرید خودروی وارداتی).")


async def start_purchase(
    national_id: str,
    full_name: str,
    *,
    bank: str,
    account: str,
    amount_rial: int = policy.ESCROW_DEPOSIT_RIAL,
    scheme_id: str = "import-cars",
    has_driving_license: bool = True,
    is_legal_entity: bool = False,
    workflow_id: str | None = None,
) -> str:
    """Start an ``ImportPurchase`` case; returns its workflow id."""
    client = await connect()
    workflow_id = workflow_id or f"import-purchase-{uuid.uuid4().hex[:12]}"
    payload: dict[str, Any] = {
        "scheme_id": scheme_id,
        "applicant": {
            "national_id": national_id,
            "full_name": full_name,
            "has_driving_license": has_driving_license,
            "is_legal_entity": is_legal_entity,
        },
        "deposit": {"bank": bank, "account": account, "amount_rial": amount_rial},
    }
    return await start_case(
        client, "ImportPurchase", payload, workflow_id, "Registered", "خرید خودروی وارداتی", by=("applicant", national_id)
    )


@app.command()
def start(
    national_id: str,
    full_name: str,
    bank: str = typer.Option(..., help="escrow bank id (reference data escrow_banks), e.g. mellat"),
    account: str = typer.Option(..., help="the applicant's escrow account (حساب وکالتی)"),
    amount_rial: int = typer.Option(policy.ESCROW_DEPOSIT_RIAL, help="the blocked deposit in rials"),
    scheme_id: str = typer.Option("import-cars", help="the sale scheme"),
    driving_license: bool = typer.Option(True, "--driving-license/--no-driving-license"),
    legal_entity: bool = typer.Option(False, "--legal-entity", help="the applicant is a company (never eligible)"),
    workflow_id: str | None = typer.Option(None, "--id"),
) -> None:
    """Register an applicant with the deposit blocked at an escrow bank; eligibility runs at once."""
    problem = national_id_problem(national_id)
    if problem:
        raise typer.BadParameter(problem)
    console.print(
        run(
            start_purchase(
                national_id,
                full_name,
                bank=bank,
                account=account,
                amount_rial=amount_rial,
                scheme_id=scheme_id,
                has_driving_license=driving_license,
                is_legal_entity=legal_entity,
                workflow_id=workflow_id,
            )
        )
    )
