"""Fuel cards (seed 002): the pure rules of quotas, charge periods, carry-over, prices and worn-out ages.

No I/O here: the registry (``registry/fuel_models.py``) keeps cards, balances, dated quotas and
prices; the charge cycle (``activities/fuel_cards.py``, ``workflows/fuel_charge.py``) and station
purchases apply these rules to them.

- Quota by use, litres a month («سهمیه ماهانه هر اتومبیل به نوع کاربری خودرو بستگی دارد»): the
  seed's table, ``policy.FUEL_QUOTA_LITRES_PER_MONTH``; heavy vehicles («هر دو هفته یکبار شارژ
  می شود») are charged twice a month, in the two halves of a Jalali month.
- Carry-over: a balance holds at most nine months of its quota («تا ۹ ماه باقی می ماند», 540 L for a
  car, 225 L for a motorcycle).
- A purchase of petrol takes quota litres first, at the quota price, then free litres at the free
  price; super at its own price, never from the quota. Prices are dated: the price in force at
  the purchase's instant applies.
- Worn-out ages by seed 002's own table (``policy.WORN_OUT_AGE_YEARS_FUEL``), in model years as
  numbering counts them.

Quantities are integers: millilitres and rials, so a balance is exact and never negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from persiantools.jdatetime import JalaliDate

from domain import policy
from domain.calendar import tehran_today
from domain.display import TEHRAN

ML_PER_LITRE = 1000

Grade = Literal["regular", "super"]
"""What a station sells: regular petrol (quota, then free) or super."""

PriceKind = Literal["quota", "free", "super"]

PERIOD_KEY = re.compile(r"^(\d{4})-(\d{2})-([12])$")


@dataclass(frozen=True)
class QuotaRule:
    """One use's quota as the charge applies it."""

    use: str
    litres_per_charge: int
    charges_per_month: int
    worn_out_class: str

    @property
    def heavy(self) -> bool:
        return self.charges_per_month > 1

    @property
    def cap_litres(self) -> int:
        return carry_over_cap_litres(self.litres_per_charge, self.charges_per_month)


def carry_over_cap_litres(litres_per_charge: int, charges_per_month: int = 1) -> int:
    """The most a balance may hold: nine months of quota (seed 002: 60 L → 540 L, 25 L → 225 L)."""
    return litres_per_charge * charges_per_month * policy.FUEL_CARRY_OVER_MONTHS


def default_quota_rules() -> list[QuotaRule]:
    """The seed's quota table (monthly uses) and our heavy uses (twice a month)."""
    rules = [
        QuotaRule(use, litres, 1, policy.FUEL_WORN_OUT_CLASS_BY_USE[use])
        for use, litres in policy.FUEL_QUOTA_LITRES_PER_MONTH.items()
    ]
    rules += [
        QuotaRule(use, litres, policy.FUEL_HEAVY_CHARGES_PER_MONTH, policy.FUEL_WORN_OUT_CLASS_BY_USE[use])
        for use, litres in policy.FUEL_HEAVY_QUOTA_LITRES_PER_CHARGE.items()
    ]
    return rules


def default_prices_rial() -> dict[str, int]:
    """The seed's prices per litre, in rials."""
    return {kind: toman * policy.RIAL_PER_TOMAN for kind, toman in policy.FUEL_PRICE_TOMAN_PER_LITRE.items()}


def jalali_day_start(year: int, month: int, day: int) -> datetime:
    """00:00 Tehran of a Jalali day, as an aware instant."""
    return datetime.combine(JalaliDate(year, month, day).to_gregorian(), time(), tzinfo=TEHRAN)


def seed_figures_effective_from() -> datetime:
    return jalali_day_start(*policy.FUEL_SEED_FIGURES_EFFECTIVE_FROM)


# --- charge periods ---


@dataclass(frozen=True, order=True)
class ChargePeriod:
    """Half of a Jalali month, Tehran time: the unit the charge cycle runs in. Monthly uses are
    charged in the first half (period key ``YYYY-MM``), heavy vehicles in both (``YYYY-MM-1``,
    ``YYYY-MM-2``)."""

    year: int
    month: int
    half: int

    @property
    def key(self) -> str:
        """The run's key: ``1404-09-1``."""
        return f"{self.year:04d}-{self.month:02d}-{self.half}"

    @property
    def month_key(self) -> str:
        """The monthly charge's key: ``1404-09``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def charges_monthly_uses(self) -> bool:
        return self.half == 1

    def key_for(self, rule_heavy: bool) -> str:
        """The charge row's period for a card: its half for a heavy vehicle, else the month."""
        return self.key if rule_heavy else self.month_key

    @property
    def starts_at(self) -> datetime:
        day = 1 if self.half == 1 else policy.FUEL_HEAVY_SECOND_HALF_STARTS_ON_DAY
        return jalali_day_start(self.year, self.month, day)

    @property
    def gregorian_year(self) -> int:
        """The calendar year (Tehran) of the period's first day: worn-out ages count model years."""
        return tehran_today(self.starts_at).year

    def following(self) -> ChargePeriod:
        if self.half == 1:
            return ChargePeriod(self.year, self.month, 2)
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return ChargePeriod(year, month, 1)


def period_at(at: datetime) -> ChargePeriod:
    """The charge period the instant ``at`` falls in (Tehran's Jalali calendar)."""
    day = JalaliDate.to_jalali(tehran_today(at))
    return ChargePeriod(day.year, day.month, 1 if day.day < policy.FUEL_HEAVY_SECOND_HALF_STARTS_ON_DAY else 2)


def parse_period(key: str) -> ChargePeriod:
    """``1404-09-1`` → the period; ``ValueError`` for anything else."""
    m = PERIOD_KEY.match(key)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"a charge period is YYYY-MM-1 or YYYY-MM-2 (Jalali), not {key!r}")
    return ChargePeriod(int(m.group(1)), int(m.group(2)), int(m.group(3)))


@dataclass(frozen=True)
class Charge:
    balance_ml: int
    credited_ml: int
    capped: bool


def charged(balance_ml: int, quota_ml: int, cap_ml: int) -> Charge:
    """A charge of ``quota_ml`` onto ``balance_ml``: what is credited without passing the cap."""
    room = max(cap_ml - balance_ml, 0)
    credited = min(quota_ml, room)
    return Charge(balance_ml + credited, credited, credited < quota_ml)


# --- purchases ---


@dataclass(frozen=True)
class PurchaseSplit:
    quota_ml: int
    free_ml: int
    quota_rial_per_litre: int
    free_rial_per_litre: int
    amount_rial: int


def litres_to_ml(litres: Decimal | str | int) -> int:
    """Litres as a station reports them (at most three decimals) → millilitres."""
    value = Decimal(str(litres))
    ml = value * ML_PER_LITRE
    if ml != ml.to_integral_value():
        raise ValueError("litres have at most three decimals")
    return int(ml)


def split_purchase(requested_ml: int, quota_available_ml: int, grade: Grade, prices: dict[str, int]) -> PurchaseSplit:
    """Which litres come from the quota and what the purchase costs, in rials (half up).

    ``prices`` are the rials per litre in force at the purchase (``quota``, ``free``, ``super``)."""
    if requested_ml <= 0:
        raise ValueError("a purchase is of more than zero litres")
    if grade == "super":
        quota_ml, free_price = 0, prices["super"]
    else:
        quota_ml, free_price = min(requested_ml, max(quota_available_ml, 0)), prices["free"]
    free_ml = requested_ml - quota_ml
    millis = quota_ml * prices["quota"] + free_ml * free_price
    amount = int((Decimal(millis) / ML_PER_LITRE).to_integral_value(ROUND_HALF_UP))
    return PurchaseSplit(quota_ml, free_ml, prices["quota"], free_price, amount)


# --- duplicates (کارت سوخت المثنی) ---

DuplicateReason = Literal["lost", "damaged", "not_handed_over"]
"""«مفقود شدن و صدمه دیدن کارت سوخت همچنین عدم تحویل کارت به خریدار در زمان معامله» (seed 002)."""

DUPLICATE_REASONS: tuple[DuplicateReason, ...] = ("lost", "damaged", "not_handed_over")


# --- worn-out vehicles ---


def worn_out_age_years(worn_out_class: str) -> int:
    """Seed 002's worn-out age of a class («سایر وسائل نقلیه با عمر ۲۵ سال» for any other)."""
    return policy.WORN_OUT_AGE_YEARS_FUEL.get(worn_out_class, policy.WORN_OUT_AGE_YEARS_FUEL["other"])


def last_worn_out_model_year(worn_out_class: str, year: int) -> int:
    """In calendar year ``year``, vehicles of this model year or older are worn out."""
    return year - worn_out_age_years(worn_out_class)


def is_worn_out(worn_out_class: str, production_year: int, year: int) -> bool:
    return production_year <= last_worn_out_model_year(worn_out_class, year)
