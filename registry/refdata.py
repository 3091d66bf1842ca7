"""Loading reference data and exchange rates into the registry (used by the CLI and tests)."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain import policy
from registry.db import session_scope
from registry.models import Closure, EscrowBank, ExchangeRate, ForeignSeller, Goods, NumberingCentre, VeteranCarTariff
from registry.scheme_models import ImportScheme

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

RESTRICTED_CATEGORIES = ("imported", "historic", "temporary_transit")
"""The categories seed 004 numbers only at certain centres (``lifecycles.plates.CENTRE_RESTRICTED_CATEGORIES``):
a case of one carries the list of its centres, at most ``policy.MAX_CENTRES_CARRIED``."""


def centre_problems(centres: list[NumberingCentre]) -> list[str]:
    """Why the numbering centres, as they stand after a load, break seed 004's rules: historic cars
    are numbered at one centre («مرکز شماره گذاری واقع در شهرک آزمایش»), a customs office has one
    nearest centre («نزدیک ترین محل شماره گذاری به گمرک ترخیص کننده»), and a restricted category's
    centres fit in a case (``policy.MAX_CENTRES_CARRIED``)."""
    problems: list[str] = []
    historic = sorted(c.centre_id for c in centres if "historic" in c.kinds)
    if len(historic) > 1:
        problems.append(
            f"historic cars are numbered at one centre (seed 004: «مرکز شماره گذاری واقع در شهرک آزمایش»), not at {', '.join(historic)}"
        )
    nearest: dict[str, list[str]] = {}
    for c in centres:
        for office in c.customs_offices:
            nearest.setdefault(office, []).append(c.centre_id)
    for office, ids in sorted(nearest.items()):
        if len(ids) > 1:
            problems.append(f"customs office {office} has one nearest numbering centre, not {', '.join(sorted(ids))}")
    for kind in RESTRICTED_CATEGORIES:
        count = sum(1 for c in centres if kind in c.kinds)
        if count > policy.MAX_CENTRES_CARRIED:
            problems.append(f"{count} centres number {kind} vehicles, more than a case carries ({policy.MAX_CENTRES_CARRIED})")
    return problems


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


class ImportSchemeEntry(_Entry):
    """An import scheme's round (``import_schemes``, seed 001): its registration window
    ``[registration_opens, registration_closes)`` as instants with their zone (Tehran's, e.g.
    ``+03:30``), and the deposit to block."""

    scheme_id: str = Field(min_length=1, max_length=64)
    registration_opens: dt.datetime
    registration_closes: dt.datetime
    deposit_rial: int = Field(gt=0)

    @model_validator(mode="after")
    def _window(self) -> ImportSchemeEntry:
        if self.registration_opens.tzinfo is None or self.registration_closes.tzinfo is None:
            raise ValueError(f"scheme {self.scheme_id}: the window's instants need their zone (e.g. +03:30)")
        if self.registration_closes <= self.registration_opens:
            raise ValueError(f"scheme {self.scheme_id}: registration_closes must be after registration_opens")
        return self


class RefDataFile(_Entry):
    """The shape of ``refdata load FILE.json`` (CONTRACT.md); every key optional."""

    veteran_car_tariffs: list[TariffEntry] = []
    goods: list[GoodsEntry] = []
    foreign_sellers: list[SellerEntry] = []
    escrow_banks: list[str] = []
    numbering_centres: list[CentreEntry] = []
    closures: list[ClosureEntry] = []
    import_schemes: list[ImportSchemeEntry] = []


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
        if parsed.numbering_centres:
            # Judged on the centres as they stand after the merge (a load replaces entries, it
            # never removes one: load a centre with ``kinds: []`` to stop it numbering).
            session.flush()
            problems = centre_problems(list(session.scalars(select(NumberingCentre))))
            if problems:
                raise ValueError("numbering_centres: " + "; ".join(problems))  # the transaction rolls back
        for closure in parsed.closures:
            session.merge(Closure(day=closure.date, reason=closure.reason))
        for scheme in parsed.import_schemes:
            _load_import_scheme(session, scheme)
    return {key: len(getattr(parsed, key)) for key in RefDataFile.model_fields}


def _load_import_scheme(session: Session, entry: ImportSchemeEntry) -> None:
    """Add a scheme or change its window and deposit; refused once its registration book is closed
    (the eligibility batch has begun), which would change a round already judged."""
    scheme = session.get(ImportScheme, entry.scheme_id)
    if scheme is None:
        session.add(ImportScheme(**entry.model_dump()))
        return
    fields = entry.model_dump(exclude={"scheme_id"})
    if scheme.checked_at is not None and any(getattr(scheme, k) != v for k, v in fields.items()):
        raise ValueError(f"scheme {entry.scheme_id}: its registration has closed and its round was judged; it cannot change")
    for key, value in fields.items():
        setattr(scheme, key, value)


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
