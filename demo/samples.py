"""Complete, valid example data against the shipped reference data (demo and tests share it)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


def trade_order_sections(today: date, *, tariff_code: str = "87032391", goods_id: str = "G-1001") -> dict[str, dict[str, Any]]:
    """Each section's update fields for a file that passes the rules inquiry."""
    return {
        "save_main_info": {
            "proforma_number": "PF-2026-0117",
            "beneficiary_country": "DE",
            "proforma_date": (today - timedelta(days=5)).isoformat(),
            "proforma_valid_until": (today + timedelta(days=120)).isoformat(),
            "seller": {"type": "company", "id": "DE-4471", "name": "Autohaus Export GmbH"},
        },
        "save_transport": {
            "contract_type": "CIF",  # sea only (policy.INCOTERM_SHIPPING_METHODS)
            "shipping_method": "sea",
            "entry_border": "bandar-abbas",
            "destination_customs": "shahid-rajaee",
            "origin_country": "DE",
            "loading_place": "Hamburg",
            "fleet": "foreign",
            "multiple_shipments": False,
            "through_transport": False,
        },
        "save_financials": {
            "bank": "mellat",
            "branch": "tehran-central-0112",
            "currency_source": "own_currency",
            "freight_eur": "1200.00",
            "other_costs_eur": "300.00",
            "discount_eur": "500.00",
        },
        "add_goods": {
            "tariff_code": tariff_code,
            "goods_id": goods_id,
            "fob_eur": "24000.00",
            "quantity": 1,
            "manufacturer": "Volkswagen",
            "technical_specs": "1.5 TSI, automatic, 5 seats",
        },
        "attach_document": {
            "kind": "proforma",
            "name": "proforma.pdf",
            "sha256": "9f2c8e7a1b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6",
        },
    }


TRADE_ORDER_TOTAL_EUR = "25000.00"
"""24000 FOB + 1200 freight + 300 other − 500 discount."""
