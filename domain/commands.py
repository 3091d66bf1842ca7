"""Parsing of the contract's JSON commands into typed, validated objects.

Every update argument is one JSON object carrying ``actor_token``; pydantic turns it into a model or
a readable list of what is wrong. Both validators and handlers parse with these, so a command
the validator accepted is exactly the one the handler applies.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from domain import policy
from domain.identity import national_id_problem
from domain.money import payment_key_problem

Role = Literal[
    "applicant", "licensing_org", "expert", "bank", "importer", "customs", "operator", "officer", "seller", "buyer", "owner"
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
        raise ValueError("EUR amounts are decimal strings such as \"21000.50\", not floats")
    return value


def _whole_rials(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("rial amounts are whole numbers (JSON integers)")
    return value


def _iso_date(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("dates are ISO-8601 strings YYYY-MM-DD")
    return value


NationalId = Annotated[str, AfterValidator(_national_id)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Eur = Annotated[Decimal, BeforeValidator(_decimal_string), Field(ge=0, max_digits=18, decimal_places=2)]
Rials = Annotated[int, BeforeValidator(_whole_rials), Field(ge=0, le=policy.MAX_RIAL)]
PositiveRials = Annotated[int, BeforeValidator(_whole_rials), Field(gt=0, le=policy.MAX_RIAL)]
def _payment_ref(value: str) -> str:
    problem = payment_key_problem(value)
    if problem:
        raise ValueError(problem)
    return value


PaymentRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_payment_ref)]
"""A bank's reference: compared as :func:`domain.money.payment_key`, which must leave 1-64 characters."""
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
Day = Annotated[date, BeforeValidator(_iso_date)]
Flag = Annotated[bool, Field(strict=True)]
"""A JSON boolean; "yes" or 1 are refused rather than guessed at."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(Strict):
    role: Role
    id: Code
    jti: Code | None = None
    """The id of the token that proved this actor (set from the verified token, never by the caller)."""


ActorToken = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class Command(Strict):
    """Every update's argument: the caller's token, and optionally the old ``actor`` object.

    The workflow replaces ``actor`` with the verified ``{role, id: sub, jti}`` of the token; an
    ``actor`` the caller sends proves nothing and must equal the token's.
    """

    actor_token: ActorToken
    actor: Actor | None = None


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
        raise Rejected("invalid input: " + "; ".join(_describe(e) for e in err.errors())) from None


def parse_start(model: type[M], start: Any) -> M:
    """A workflow's input without its envelope (the token is checked by the case, not the model)."""
    if isinstance(start, dict):
        start = {k: v for k, v in start.items() if k not in ENVELOPE}
    return parse(model, start)


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "argument"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{where}: {message}"
