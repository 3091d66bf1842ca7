"""Parsing of the contract's JSON commands into typed, validated objects.

Every update argument is one JSON object carrying ``actor_token``; pydantic turns it into a model or
a readable list of what is wrong. Both validators and handlers parse with these, so a command
the validator accepted is exactly the one the handler applies.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    model_serializer,
)

from domain import policy
from domain.identity import national_id_problem
from domain.money import payment_key_problem

Role = Literal[
    "applicant",
    "licensing_org",
    "expert",
    "bank",
    "importer",
    "customs",
    "operator",
    "officer",
    "seller",
    "buyer",
    "owner",
    # fuel cards (seed 002, issue 12): post office, Police+10 office, regional fuel office, petrol station
    "post_office",
    "police10",
    "fuel_office",
    "station",
]


class Rejected(ValueError):
    """A command that must not be applied; the message says why, in words for the caller."""


def _national_id(value: str) -> str:
    problem = national_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _decimal_string(value: Any) -> Any:
    # The contract carries EUR as strings; a JSON float would already have lost precision.
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError('EUR amounts are decimal strings such as "21000.50", not floats')
    return value


def _whole_rials(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("rial amounts are whole numbers (JSON integers)")
    return value


def _iso_date(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("dates are ISO-8601 strings YYYY-MM-DD")
    return value


def _year_in_range(value: date) -> date:
    if value.year < policy.MIN_YEAR:
        raise ValueError(f"{value.year} is too far in the past (dates run from {policy.MIN_YEAR} to {policy.MAX_YEAR})")
    if value.year > policy.MAX_YEAR:
        raise ValueError(f"{value.year} is too far in the future (dates run from {policy.MIN_YEAR} to {policy.MAX_YEAR})")
    return value


def _refuse_controls(value: str, allowed: str = "") -> str:
    """Refuse control characters (NUL included: PostgreSQL text refuses it) and lone surrogates
    (no UTF-8 encodes them), except those in ``allowed``. Persian's zero-width non-joiner and the
    direction marks are format characters, not controls: they stay."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed:
            raise ValueError(f"control character U+{ord(ch):04X} is not allowed")
    return value


NoControls = AfterValidator(_refuse_controls)
NoControlsButNewlines = AfterValidator(lambda value: _refuse_controls(value, allowed="\n\r\t"))
"""Free text may run over lines (CR LF too) and hold tabs."""


# Text lengths: each the registry column the value is stored in or compared with
# (tests/test_bounds.py checks them against registry/models.py).
CODE_MAX = 64
"""escrow_deposits.bank/account, allocations.offering_id/importer_id, scheme_registrations.scheme_id, foreign_sellers.id."""
KIND_MAX = 32
"""vehicles.colour, foreign_sellers.type, goods.goods_id."""
TARIFF_MAX = 16
"""goods.tariff_code, veteran_car_tariffs.code."""
TEXT_MAX = 300
"""file_documents.name; free text kept only in the case (notes, reasons, specifications) has the same bound."""
NAME_MAX = 200
"""people.full_name, foreign_sellers.name."""
MODEL_MAX = 100
"""allocations.model, vehicles.model."""
WORKFLOW_ID_MAX = 200
"""Every workflow_id column."""

NationalId = Annotated[str, AfterValidator(_national_id)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX), NoControls]
"""One line of text (a place, a document's name)."""
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX), NoControlsButNewlines]
"""Free text that may run over lines (a reason, notes, a specification)."""
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CODE_MAX), NoControls]
ShortCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=KIND_MAX), NoControls]
TariffCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TARIFF_MAX), NoControls]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX), NoControls]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MODEL_MAX), NoControls]
WorkflowId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=WORKFLOW_ID_MAX), NoControls]
"""Another case's workflow id (a copy's source, an amended order)."""
Eur = Annotated[Decimal, BeforeValidator(_decimal_string), Field(ge=0, le=policy.MAX_EUR, max_digits=18, decimal_places=2)]
Rials = Annotated[int, BeforeValidator(_whole_rials), Field(ge=0, le=policy.MAX_RIAL)]
PositiveRials = Annotated[int, BeforeValidator(_whole_rials), Field(gt=0, le=policy.MAX_RIAL)]


def _payment_ref(value: str) -> str:
    problem = payment_key_problem(value)
    if problem:
        raise ValueError(problem)
    return value


PaymentRef = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), NoControls, AfterValidator(_payment_ref)
]
"""A bank's reference: compared as :func:`domain.money.payment_key`, which must leave 1-64 characters."""
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
Day = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_year_in_range)]
"""An ISO date between ``policy.MIN_YEAR`` and ``policy.MAX_YEAR``."""


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("an instant carries its zone (ISO-8601 in UTC, e.g. 2023-04-24T20:30:00Z)")
    if not policy.MIN_YEAR <= value.year <= policy.MAX_YEAR:
        raise ValueError(f"instants run from {policy.MIN_YEAR} to {policy.MAX_YEAR}")
    return value.astimezone(UTC)


Instant = Annotated[datetime, AfterValidator(_aware)]
"""An instant with its zone (a window's edge, an offering's dates), kept in UTC."""
Flag = Annotated[bool, Field(strict=True)]
"""A JSON boolean; "yes" or 1 are refused rather than guessed at."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Claim = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
"""A token claim as :mod:`security.tokens` accepts it (building an ``Actor`` from a verified token
must never fail inside a workflow)."""


class Actor(Strict):
    role: Role
    id: Claim
    jti: Claim | None = None
    """The id of the token that proved this actor (set from the verified token, never by the caller)."""
    centre: Claim | None = None
    """The numbering centre a plate-centre officer works at: the token's optional ``ctr`` claim
    (set from the verified token, never by the caller). Shown only when set."""

    @model_serializer(mode="wrap")
    def _without_unset_centre(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Actors without a centre dump as before ({role, id, jti}): histories keep their shape.
        out: dict[str, Any] = handler(self)
        if out.get("centre") is None:
            out.pop("centre", None)
        return out


ActorToken = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class Command(Strict):
    """Every update's argument: the caller's token, and optionally the old ``actor`` object.

    The workflow replaces ``actor`` with the verified ``{role, id: sub, jti}`` of the token; an
    ``actor`` the caller sends proves nothing and must equal the token's.
    """

    actor_token: ActorToken
    actor: Actor | None = None

    def refusal(self, today: date) -> str | None:
        """Why the update's validator refuses this command for what it carries alone (``today``:
        the workflow's day in Tehran), or ``None``. Checked only in validators (``Case.check``):
        such a rule reads nothing a handler could see differently, and cases that accepted a
        command before the rule existed replay as they ran."""
        return None


ENVELOPE = frozenset({"actor_token", "actor"})
"""A command's fields that say who gives it, not what it changes (``model_dump(exclude=ENVELOPE)``)."""


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], payload: Any) -> M:
    """``model`` from a JSON object, or :class:`Rejected` naming every field that is wrong."""
    if not isinstance(payload, dict):
        raise Rejected("the argument must be one JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        raise Rejected("invalid input: " + describe_errors(err)) from None


def describe_errors(err: ValidationError) -> str:
    """Every error of a validation, as ``field: what is wrong``, without the values given."""
    return "; ".join(_describe(e) for e in err.errors())


def parse_start(model: type[M], start: Any) -> M:
    """A workflow's input without its envelope (the token is checked by the case, not the model)."""
    if isinstance(start, dict):
        start = {k: v for k, v in start.items() if k not in ENVELOPE}
    return parse(model, start)


def _describe(error: Any) -> str:
    # Union branches add tags such as "constrained-str" or "list[...]" to the location: not fields.
    parts = [part for part in error["loc"] if not (isinstance(part, str) and ("[" in part or part.startswith("constrained-")))]
    where = ".".join(str(part) for part in parts) or "argument"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{where}: {message}"


class Abort(Command):
    """An operator ends a case that cannot go on; the reason is kept in the case's history."""

    reason: Text


ABORT_ROLES = frozenset({"operator"})
"""Who may abort a case, in every lifecycle: the ``abort`` update (see ``Case.abort``)."""
