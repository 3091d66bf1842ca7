"""The statecharts page, rendered from the machine definitions so the docs cannot drift.

``python -m lifecycles.charts`` rewrites ``docs/statecharts.md``; a test fails when the page
on disk differs from what the machines render now.
"""

from __future__ import annotations

import sys
from pathlib import Path

from statemachine import StateMachine

from lifecycles.domestic_order import DomesticOrderMachine, DomesticSchemeMachine
from lifecycles.fuel_card import FuelCardMachine
from lifecycles.import_offering import ImportOfferingMachine
from lifecycles.import_purchase import ImportPurchaseMachine
from lifecycles.import_scheme import ImportSchemeMachine
from lifecycles.plate_services import PlateServiceMachine
from lifecycles.plates import PlateTransferMachine, VehicleNumberingMachine
from lifecycles.trade_order import TradeOrderMachine
from lifecycles.trade_order_amendment import AmendmentMachine

MACHINES: list[tuple[str, type[StateMachine], str]] = [
    ("TradeOrder", TradeOrderMachine, "Trade-order registration (ثبت سفارش), seed 003"),
    ("TradeOrderAmendment", AmendmentMachine, "Edit (ویرایش) or renewal (تمدید) of a registered order, seed 003"),
    ("ImportScheme", ImportSchemeMachine, "Import scheme round: registration window, eligibility, lottery (قرعه‌کشی), seed 001"),
    ("ImportPurchase", ImportPurchaseMachine, "Imported-car purchase (خرید خودروی وارداتی), seeds 001 and 000"),
    (
        "DomesticScheme",
        DomesticSchemeMachine,
        "Domestic integrated sales stage: change windows, withdrawal switch, turns, seed 000",
    ),
    ("DomesticOrder", DomesticOrderMachine, "Domestic integrated sales order (سامانه یکپارچه فروش خودروهای داخلی), seed 000"),
    ("VehicleNumbering", VehicleNumberingMachine, "Plate numbering (شماره‌گذاری), seed 004"),
    ("PlateTransfer", PlateTransferMachine, "Plate change and ownership transfer (تعویض پلاک و نقل و انتقال), seed 004"),
    ("PlateService", PlateServiceMachine, "After-numbering services (خدمات بعد از شماره‌گذاری), seed 004"),
]
MACHINES.append(("FuelCard", FuelCardMachine, "Fuel card request and issuance (صدور کارت سوخت), seed 002"))
MACHINES.append(
    ("ImportOffering", ImportOfferingMachine, "Import offering (عرضه خودروهای وارداتی) to ranked applicants, seed 001")
)
"""(workflow type, machine, title) of every lifecycle, in the order the page shows them."""

PAGE = Path(__file__).resolve().parent.parent / "docs" / "statecharts.md"


def render() -> str:
    parts = [
        "# Statecharts\n",
        "Generated from the python-statemachine definitions in `lifecycles/` by",
        "`python -m lifecycles.charts`; `tests/test_statecharts.py` fails when this page is stale.",
        "Commands that only change a case's data (internal self-transitions) are not drawn;",
        "each chart's second table lists them with the states that accept them.\n",
    ]
    for workflow_type, machine, title in MACHINES:
        parts.append(f"## {workflow_type}: {title}\n")
        parts.append("```mermaid")
        parts.append(f"{machine:mermaid}".rstrip())
        parts.append("```\n")
        parts.append("| state | Persian label |")
        parts.append("|---|---|")
        for state in machine.states:
            parts.append(f"| `{state.id}` | {state.name} |")
        parts.append("")
        if kept := commands_keeping_the_state(machine):
            parts.append("| command that keeps the state | accepted in |")
            parts.append("|---|---|")
            for event, states in kept.items():
                parts.append(f"| `{event}` | {', '.join(f'`{state}`' for state in states)} |")
            parts.append("")
    return "\n".join(parts)


def commands_keeping_the_state(machine: type[StateMachine]) -> dict[str, list[str]]:
    """Each event with an internal self-transition → the states that accept it, in chart order."""
    kept: dict[str, list[str]] = {}
    for state in machine.states:
        for transition in state.transitions:
            if transition.internal:
                for event in transition.events:
                    states = kept.setdefault(str(event), [])
                    if state.id not in states:
                        states.append(state.id)
    return dict(sorted(kept.items()))


if __name__ == "__main__":
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE}\n")
