"""``python -m demo``: reference data, a rate, and demo cases of every lifecycle."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from cli.common import connect, console
from demo import domestic_order, fuel_cards, import_purchase, plate_services, plates, trade_order
from registry.db import migrate
from registry.refdata import DEFAULT_REFDATA, load_refdata_file, set_rate

DEMO_EUR_RATE = Decimal("620000")
LIFECYCLES = [trade_order, import_purchase, domestic_order, plates, plate_services, fuel_cards]


async def main() -> None:
    migrate()
    load_refdata_file(DEFAULT_REFDATA)
    set_rate("EUR", DEMO_EUR_RATE)
    client = await connect()
    for lifecycle in LIFECYCLES:
        for line in await lifecycle.run(client):
            console.print(line)
    console.print('\nOpen the Temporal UI at http://127.0.0.1:8233 — filter with: CaseState = "AwaitingPermit"')
    console.print("Inspect a case: python starter.py status <workflow-id>;  stop everything: ./dev stop")


if __name__ == "__main__":
    asyncio.run(main())
