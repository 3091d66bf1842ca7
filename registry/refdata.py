"""Loading reference data and exchange rates into the registry (used by the CLI and tests)."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from registry.db import session_scope
from registry.models import Closure, EscrowBank, ExchangeRate, ForeignSeller, Goods, NumberingCentre, VeteranCarTariff

DEFAULT_REFDATA = Path(__file__).with_name("refdata_default.json")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TariffEntry(_Entry):
    code: str = Field(min_length=1)
    permits: list[str] = []
    expert_review: bool = False
    priority_group: int | None = None
    ministry_priced: bool = False
    currency_sources: list[Literal["own_currency", "others_currency", "others_exports"]] = []
    """Seed 003: these sources are open «تنها برای تعرفه های مشخصی»; none when absent."""


class GoodsEntry(_Entry):
    goods_id: str = Field(min_length=1)
    tariff_code: str = Field(min_length=1)
    has_agency: bool


class SellerEntry(_Entry):
    type: str = Field(min_length=1)
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)


NUMBERING_CATEGORIES = ("imported", "auction", "temporary_transit", "historic", "veteran")
"""The categories of ``VehicleNumbering`` (``lifecycles.plates.Category``) a centre may take."""


class CentreEntry(_Entry):
    """A numbering centre (مرکز شماره‌گذاری, seed 004): the categories it numbers, whether it is
    at a provincial capital, and the customs offices it is the nearest centre to."""

    centre_id: str = Field(min_length=1, max_length=64)
    name_fa: str = Field(min_length=1, max_length=200)
    province: str = Field(min_length=1, max_length=64)
    provincial_capital: bool
    kinds: list[Literal["imported", "auction", "temporary_transit", "historic", "veteran"]] = []
    customs_offices: list[str] = []

    @model_validator(mode="after")
    def _imports_only_at_capitals(self) -> CentreEntry:
        # Seed 004 «مرکز تعویض پلاک میثم در تهران و شماره گذاری مرکز استان ها»: imported
        # vehicles are numbered only at provincial-capital centres (Meysam is in Tehran).
        if "imported" in self.kinds and not self.provincial_capital:
            raise ValueError(f"centre {self.centre_id}: imported vehicles are numbered only at provincial-capital centres")
        if self.customs_offices and "temporary_transit" not in self.kinds:
            raise ValueError(
                f"centre {self.centre_id}: customs_offices name where transit vehicles clear; add temporary_transit to kinds"
            )
        return self


class ClosureEntry(_Entry):
    """A day operators declare shut (``closures``): working-hour deadlines skip it."""

    date: dt.date
    reason: str = Field(min_length=1, max_length=200)


class RefDataFile(_Entry):
    """The shape of ``refdata load FILE.json`` (CONTRACT.md); every key optional."""

    veteran_car_tariffs: list[TariffEntry] = []
    goods: list[GoodsEntry] = []
    foreign_sellers: list[SellerEntry] = []
    escrow_banks: list[str] = []
    numbering_centres: list[CentreEntry] = []
    closures: list[ClosureEntry] = []


def load_refdata(data: dict[str, Any]) -> dict[str, int]:
    """Upsert every entry (an entry with the same key is replaced); returns counts by key."""
    parsed = RefDataFile.model_validate(data)
    with session_scope() as session:
        for t in parsed.veteran_car_tariffs:
            session.merge(VeteranCarTariff(**t.model_dump()))
        for g in parsed.goods:
            session.merge(Goods(**g.model_dump()))
        for s in parsed.foreign_sellers:
            session.merge(ForeignSeller(**s.model_dump()))
        for bank in parsed.escrow_banks:
            session.merge(EscrowBank(bank_id=bank))
        for c in parsed.numbering_centres:
            session.merge(NumberingCentre(**c.model_dump()))
        for closure in parsed.closures:
            session.merge(Closure(day=closure.date, reason=closure.reason))
    return {key: len(getattr(parsed, key)) for key in RefDataFile.model_fields}


def load_refdata_file(path: Path) -> dict[str, int]:
    return load_refdata(json.loads(path.read_text(encoding="utf-8")))


def set_rate(currency: str, rial_per_unit: Decimal, effective_at: datetime | None = None) -> ExchangeRate:
    if rial_per_unit <= 0:
        raise ValueError("a rate must be positive")
    with session_scope() as session:
        rate = ExchangeRate(
            currency=currency.upper(), rial_per_unit=rial_per_unit, effective_at=effective_at or datetime.now(UTC)
        )
        session.add(rate)
        return rate


def dump_refdata(session: Session) -> dict[str, Any]:
    from sqlalchemy import select

    return {
        "veteran_car_tariffs": [
            TariffEntry.model_validate(t, from_attributes=True).model_dump() for t in session.scalars(select(VeteranCarTariff))
        ],
        "goods": [GoodsEntry.model_validate(g, from_attributes=True).model_dump() for g in session.scalars(select(Goods))],
        "foreign_sellers": [
            SellerEntry.model_validate(s, from_attributes=True).model_dump() for s in session.scalars(select(ForeignSeller))
        ],
        "escrow_banks": [b.bank_id for b in session.scalars(select(EscrowBank))],
        "numbering_centres": [
            CentreEntry.model_validate(c, from_attributes=True).model_dump() for c in session.scalars(select(NumberingCentre))
        ],
    }
