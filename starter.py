"""Start, drive and inspect lifecycles, and manage the registry: ``python starter.py --help``."""

from __future__ import annotations

import typer

from cli import cases, domestic, import_purchase, plates, registry, trade_order, trust
from cli import fuel as fuel_cards
from cli import scheme as import_scheme

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_show_locals=False)
app.add_typer(trade_order.app, name="trade-order")
app.add_typer(import_purchase.app, name="purchase")
app.add_typer(plates.app, name="plates")
app.add_typer(import_scheme.app, name="scheme")
app.add_typer(domestic.app, name="domestic")
app.add_typer(registry.rates, name="rates")
app.add_typer(registry.refdata, name="refdata")
app.command("outbox")(registry.outbox)
app.command("vehicle")(registry.vehicle)
app.command("status")(cases.status)
app.command("update")(cases.update)
app.command("list")(cases.list_cases)
app.command("token")(trust.token)
app.command("codec-server")(trust.codec_server)
app.add_typer(fuel_cards.app, name="fuel")


if __name__ == "__main__":
    app()
