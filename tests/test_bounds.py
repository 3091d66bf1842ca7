"""Bounded input, and activity failures sorted into permanent and transient.

Every text of a command or a start fits the registry column it ends in and holds no control
character; lists, amounts and dates are bounded. The validator refuses what does not fit, naming
the field, so nothing reaches a retrying activity: the case stays free for its next command.
An activity the registry refuses anyway fails at once as ``Rejected``; one that keeps failing for
a transient reason retries and alerts the operators once.

The module runs on a time-skipping server of its own (the ImportPurchase fixtures).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import Session
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from demo.samples import trade_order_sections
from domain import commands, policy
from lifecycles import (
    domestic_order,
    fuel_card,
    import_offering,
    import_purchase,
    import_scheme,
    plate_services,
    plates,
    trade_order,
    trade_order_amendment,
)
from registry import models
from registry.db import session_scope
from registry.models import CaseClaim, OutboxMessage, Person
from tests.helpers import actor, new_national_id, rejected, server_now, signed_start, start, update
from tests.plate_support import BANK, OFFICER, closed, numbering_input, seed_vehicle, settled
from tests.test_import_purchase_support import IMPORTER, allocate, begin, close_cases, env, purchase_input, worker  # noqa: F401
from tests.trade_order_support import TradeCase, awaiting_fee, submitted

BIG = "x" * 100_000
"""100 kB: far past every column."""
NUL = "a\x00b"
TOO_LATE, TOO_EARLY = f"{policy.MAX_YEAR + 1}-01-01", f"{policy.MIN_YEAR - 1}-12-31"
TOO_MUCH_RIAL, TOO_MUCH_EUR = policy.MAX_RIAL + 1, str(policy.MAX_EUR + 1)


def over(limit: int) -> str:
    """One character more than a column holds."""
    return "x" * (limit + 1)


def set_path(fields: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``fields`` with ``path`` (dotted, into nested objects) set to ``value``."""
    out = {**fields}
    head, _, rest = path.partition(".")
    out[head] = set_path(dict(out.get(head) or {}), rest, value) if rest else value
    return out


def text_cases(path: str, limit: int) -> list[tuple[str, Any, str]]:
    """A text one character over its column, and one holding NUL."""
    return [(path, over(limit), f"at most {limit} characters"), (path, NUL, "control character U+0000")]


ENVELOPE_ONLY = [("actor_token", BIG, "actor_token is longer than"), ("note", BIG, "Extra inputs are not permitted")]
"""What a command without fields can carry too much of: a huge token, an unknown field."""
ABORT = (actor("operator", "op-1"), {"reason": "r"}, [("reason", BIG, "at most 300"), *text_cases("reason", commands.TEXT_MAX)])
"""Every lifecycle's ``abort``."""


Case = tuple[str, Any, str]
"""A bad field: its path, its value, what the refusal says."""


async def refuses_every(
    handle: WorkflowHandle, update_name: str, who: dict[str, str], base: dict[str, Any], cases: list[Case]
) -> None:
    """Each bad field refused by the validator (state and history unchanged), the message naming it."""
    for path, value, says in cases:
        fields = set_path(base, path, value)
        if path != "actor_token":
            fields["actor"] = who
        message = await rejected(handle, update_name, **fields)
        field = path.rsplit(".", 1)[-1]
        assert says in message and (field in message or path in ("actor_token", "note")), (update_name, path, message)


async def refused_start(
    client: Client,
    worker: Worker,
    workflow_type: str,
    data: dict[str, Any],
    field: str,
    says: str,
    by: dict[str, str] | None = None,
) -> None:
    """A start the case refuses for its input (naming the field): failed, ``Refused``, nothing claimed.

    Polled, never awaited with ``result()``: that lets the time-skipping server run every open
    case's timers, and this module's clock would race decades ahead."""
    handle = await start(client, worker, workflow_type, data, "bounds-start", by=by)
    await closed(handle)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    status = await handle.query("status")
    assert status["state"] == "Refused" and status["reason"].startswith(f"{workflow_type} input: "), status  # InvalidInput
    assert field in status["reason"] and says in status["reason"], status["reason"]
    with session_scope() as session:
        assert session.get(CaseClaim, handle.id) is None


# --- the bounds themselves ---


@pytest.mark.parametrize(
    ("limit", "columns"),
    [
        (
            commands.CODE_MAX,
            [
                "escrow_deposits.bank",
                "escrow_deposits.account",
                "allocations.offering_id",
                "allocations.importer_id",
                "scheme_registrations.scheme_id",
                "foreign_sellers.id",
            ],
        ),
        (commands.KIND_MAX, ["vehicles.colour", "foreign_sellers.type", "goods.goods_id"]),
        (commands.TARIFF_MAX, ["goods.tariff_code", "veteran_car_tariffs.code"]),
        (commands.TEXT_MAX, ["file_documents.name"]),
        (commands.NAME_MAX, ["people.full_name", "foreign_sellers.name"]),
        (commands.MODEL_MAX, ["allocations.model", "vehicles.model"]),
        (commands.WORKFLOW_ID_MAX, ["trade_files.workflow_id", "registered_orders.workflow_id", "case_claims.workflow_id"]),
    ],
)
def test_text_bounds_are_their_columns(limit: int, columns: list[str]) -> None:
    for name in columns:
        table, column = name.split(".")
        assert models.Base.metadata.tables[table].c[column].type.length == limit, name


MODELS = [
    *trade_order.COMMANDS.values(),
    trade_order.Start,
    trade_order.Sections,
    trade_order_amendment.Start,
    commands.Abort,
    *import_purchase.COMMANDS.values(),
    import_purchase.Start,
    *plates.NUMBERING_COMMANDS.values(),
    *plates.TRANSFER_COMMANDS.values(),
    plates.NumberingStart,
    plates.TransferStart,
    *plate_services.COMMANDS.values(),
    plate_services.ServiceStart,
    *import_scheme.COMMANDS.values(),
    import_scheme.Start,
    *domestic_order.SCHEME_COMMANDS.values(),
    domestic_order.SchemeStart,
    *domestic_order.COMMANDS.values(),
    domestic_order.Start,
]
MODELS += [*fuel_card.COMMANDS.values(), fuel_card.FuelCardStart]
MODELS += [*import_offering.COMMANDS.values(), import_offering.Start, import_offering.Terms]
CHECKED_ELSEWHERE = {"national_id", "vin"}
"""Strings whose validator allows one exact shape (10 digits; a VIN), so no length to declare
(also any ``*_national_id``)."""


def unbounded(schema: dict[str, Any], defs: dict[str, Any], where: str) -> list[str]:
    """Every place of a JSON schema where a string, list or integer has no upper bound."""
    if "$ref" in schema:
        return unbounded(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, where)
    has_maximum = bool({"le", "lt", "maximum", "exclusiveMaximum"} & set(schema))
    if {"ge", "gt"} & set(schema) and "type" not in schema:  # a Decimal: a number or a decimal string
        return [] if has_maximum else [where]
    found: list[str] = []
    for option in schema.get("anyOf", []):
        found += unbounded(option, defs, where)
    kind = schema.get("type")
    name = where.rsplit(".", 1)[-1]
    if (
        kind == "string"
        and not ({"maxLength", "pattern", "enum", "const", "format"} & set(schema))
        and name not in CHECKED_ELSEWHERE
        and not name.endswith("_national_id")
    ):
        found.append(where)
    if kind == "array":
        found += [] if "maxItems" in schema else [where]
        found += unbounded(schema.get("items", {}), defs, where + "[]")
    if kind == "integer" and not has_maximum and not ({"enum", "const"} & set(schema)):
        found.append(where)
    if kind == "object":
        for field, sub in schema.get("properties", {}).items():
            found += unbounded(sub, defs, f"{where}.{field}")
    return found


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.__module__.rsplit('.', 1)[-1]}.{m.__qualname__}")
def test_every_field_of_every_command_and_start_is_bounded(model: Any) -> None:
    schema = model.model_json_schema()
    assert unbounded(schema, schema.get("$defs", {}), model.__name__) == []


@pytest.mark.parametrize("value", ["a\x00b", "a\x07b", "a\x1bb", "\ud800", "a\u0085b"])
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(commands.Rejected):
        commands.parse(trade_order.Decision, {"actor_token": "t", "approve": False, "reason": value})


def test_persian_text_and_newlines_in_free_text_pass() -> None:
    decision = commands.parse(
        trade_order.Decision, {"actor_token": "t", "approve": False, "reason": "مدارک\u200cناقص\nسطر دوم\u200f"}
    )
    assert decision.reason == "مدارک\u200cناقص\nسطر دوم\u200f"
    with pytest.raises(commands.Rejected, match="U\\+000A"):
        commands.parse(trade_order.SaveTransport, {"actor_token": "t", "loading_place": "Ham\nburg"})


# --- TradeOrder and its amendments ---


async def awaiting_permits(client: Client, worker: Worker) -> TradeCase:
    case = await submitted(client, worker)
    status = await case.send("inquire_rules")
    assert status["state"] == "Inquired", status
    status = await case.send("request_permits")
    assert status["state"] == "AwaitingPermit" and set(status["permits"]) == {"MIMT", "DOE"}, status
    return case


def trade_order_cases(
    sections: dict[str, dict[str, Any]],
) -> dict[str, tuple[dict[str, str] | None, dict[str, Any], list[tuple[str, Any, str]]]]:
    """Every TradeOrder update: who gives it (``None``: the applicant), valid fields, bad fields."""
    goods = sections["add_goods"]
    return {
        "save_main_info": (
            None,
            sections["save_main_info"],
            [
                ("proforma_number", BIG, "at most 64 characters"),
                *text_cases("proforma_number", commands.CODE_MAX),
                *text_cases("beneficiary_country", commands.CODE_MAX),
                ("proforma_date", TOO_EARLY, "too far in the past"),
                ("proforma_valid_until", TOO_LATE, "too far in the future"),
                ("proforma_date", "9999-12-31", "too far in the future"),
                *text_cases("seller.type", commands.KIND_MAX),
                *text_cases("seller.id", commands.CODE_MAX),
                *text_cases("seller.name", commands.NAME_MAX),
            ],
        ),
        "save_transport": (
            None,
            {**sections["save_transport"], "multiple_shipments": True},
            [
                ("loading_place", BIG, "at most 300 characters"),
                *text_cases("loading_place", commands.TEXT_MAX),
                *text_cases("fleet", commands.CODE_MAX),
                *text_cases("shipping_method", commands.CODE_MAX),
                *text_cases("destination_customs", commands.CODE_MAX),
                ("entry_border", ["border"] * (policy.MAX_CHOICES + 1), f"at most {policy.MAX_CHOICES} items"),
                ("origin_country", ["DE", NUL], "control character U+0000"),
                ("shipping_method", ["sea", over(commands.CODE_MAX)], "at most 64 characters"),
            ],
        ),
        "save_financials": (
            None,
            sections["save_financials"],
            [
                *text_cases("bank", commands.CODE_MAX),
                *text_cases("branch", commands.CODE_MAX),
                ("freight_eur", TOO_MUCH_EUR, "less than or equal to"),
                ("other_costs_eur", TOO_MUCH_EUR, "less than or equal to"),
                ("discount_eur", "1" * 40, "less than or equal to"),
            ],
        ),
        "add_goods": (
            None,
            goods,
            [
                ("technical_specs", BIG, "at most 300 characters"),
                *text_cases("tariff_code", commands.TARIFF_MAX),
                *text_cases("goods_id", commands.KIND_MAX),
                *text_cases("manufacturer", commands.TEXT_MAX),
                *text_cases("technical_specs", commands.TEXT_MAX),
                *text_cases("standard", commands.TEXT_MAX),
                ("fob_eur", TOO_MUCH_EUR, "less than or equal to"),
                ("quantity", policy.MAX_QUANTITY + 1, "less than or equal to"),
            ],
        ),
        "attach_document": (
            None,
            sections["attach_document"],
            [("name", BIG, "at most 300"), *text_cases("name", commands.TEXT_MAX)],
        ),
        "edit": (
            None,
            {"fleet": "foreign"},
            [
                ("goods", [goods] * (policy.MAX_GOODS_LINES + 1), f"at most {policy.MAX_GOODS_LINES} items"),
                ("goods", [{**goods, "standard": NUL}], "control character U+0000"),
                *text_cases("fleet", commands.CODE_MAX),
                *text_cases("loading_place", commands.TEXT_MAX),
                ("proforma_valid_until", TOO_LATE, "too far in the future"),
                ("freight_eur", TOO_MUCH_EUR, "less than or equal to"),
                ("entry_border", ["b"] * (policy.MAX_CHOICES + 1), f"at most {policy.MAX_CHOICES} items"),
            ],
        ),
        "decide_permit": (
            actor("licensing_org", "MIMT"),
            {"approve": False, "reason": "ok"},
            [
                ("reason", BIG, "at most 300"),
                *text_cases("reason", commands.TEXT_MAX),
            ],
        ),
        "expert_decide": (
            actor("expert", "expert-7"),
            {"approve": False, "reason": "ok"},
            text_cases("reason", commands.TEXT_MAX),
        ),
        "pay_fee": (
            actor("bank", "mellat"),
            {"payment_ref": "P-1", "amount_rial": 1},
            [
                ("payment_ref", BIG, "at most 64"),
                ("payment_ref", NUL, "control character U+0000"),
                ("amount_rial", TOO_MUCH_RIAL, "less than or equal to"),
            ],
        ),
        "allocate_currency": (
            actor("bank", policy.CENTRAL_BANK_ID),
            {"approve": False, "reason": "ok"},
            [
                ("allocation_ref", BIG, "at most 64"),
                *text_cases("allocation_ref", commands.CODE_MAX),
                *text_cases("reason", commands.TEXT_MAX),
            ],
        ),
        "grant_access": (
            None,
            {"grantee_national_id": new_national_id(), "level": "edit"},
            [
                ("grantee_national_id", "12345", "national id"),
                ("grantee_national_id", BIG, "national id"),
                ("level", "owner", "Input should be 'edit' or 'full'"),
            ],
        ),
        "revoke_access": (None, {"grantee_national_id": new_national_id()}, [("grantee_national_id", NUL, "national id")]),
        "abort": ABORT,
        **{
            name: (None, {}, ENVELOPE_ONLY)
            for name in ("submit", "void", "inquire_rules", "request_permits", "withdraw_permit_requests", "request_registration")
        },
    }


async def test_trade_order_refuses_oversized_and_control_input_in_every_update(client: Client, worker: Worker) -> None:
    case = await awaiting_permits(client, worker)
    cases = trade_order_cases(trade_order_sections((await server_now()).date()))
    assert set(cases) == set(trade_order.COMMANDS)
    for name, (who, base, bad) in cases.items():
        await refuses_every(case.handle, name, who or case.me, base, bad)
    # Not busy: the next valid command goes through.
    status = await update(case.handle, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    assert status["permits"]["MIMT"] == "approved" and "decide_permit" in status["allowed"]


async def test_trade_order_start_refuses_oversized_and_control_input(client: Client, worker: Worker) -> None:
    today = (await server_now()).date()
    sections = trade_order_sections(today)
    goods = sections["add_goods"]

    def data(**changes: Any) -> dict[str, Any]:
        return {"applicant": {"national_id": new_national_id(), "full_name": "علی رضایی"}, **changes}

    bad = [
        (set_path(data(), "applicant.full_name", over(commands.NAME_MAX)), "applicant.full_name", "at most 200"),
        (set_path(data(), "applicant.full_name", NUL), "applicant.full_name", "control character"),
        (data(copied_from=over(commands.WORKFLOW_ID_MAX)), "copied_from", "at most 200"),
        (data(copied_from=NUL), "copied_from", "control character"),
        (data(sections={"goods": [goods] * (policy.MAX_GOODS_LINES + 1)}), "goods", f"at most {policy.MAX_GOODS_LINES} items"),
        (data(sections={"documents": [sections["attach_document"]] * (policy.MAX_DOCUMENTS + 1)}), "documents", "items"),
        (data(sections={"main_info": {"proforma_date": TOO_LATE}}), "main_info.proforma_date", "too far in the future"),
        (data(sections={"transport": {"loading_place": BIG}}), "transport.loading_place", "at most 300"),
        (data(sections={"goods": [{**goods, "goods_id": NUL}]}), "goods.0.goods_id", "control character"),
    ]
    for body, field, says in bad:
        await refused_start(client, worker, "TradeOrder", body, field, says)


async def registered_order(client: Client, worker: Worker, **kwargs: Any) -> TradeCase:
    case, status = await awaiting_fee(client, worker, **kwargs)
    await update(
        case.handle, "pay_fee", actor=actor("bank", "b"), payment_ref=f"P-{case.handle.id}", amount_rial=status["fee_rial"]
    )
    return case


async def test_amendment_refuses_oversized_and_control_input(client: Client, worker: Worker) -> None:
    order = await registered_order(client, worker)
    for order_id, says in ((over(commands.WORKFLOW_ID_MAX), "at most 200"), (order.handle.id + "\x00", "control character")):
        body = {"order_workflow_id": order_id, "kind": "edit"}
        await refused_start(client, worker, "TradeOrderAmendment", body, "order_workflow_id", says, by=order.me)
    handle = await start(
        client, worker, "TradeOrderAmendment", {"order_workflow_id": order.handle.id, "kind": "edit"}, "bounds-amend", by=order.me
    )
    for _ in range(100):
        if (await handle.query("status")).get("order_number"):
            break
        await asyncio.sleep(0.05)
    goods = trade_order_sections((await server_now()).date())["add_goods"]
    cases = {
        "edit": (
            order.me,
            {"fleet": "foreign"},
            [
                ("goods", [goods] * (policy.MAX_GOODS_LINES + 1), "items"),
                ("loading_place", BIG, "at most 300"),
                *text_cases("fleet", commands.CODE_MAX),
                ("proforma_date", TOO_EARLY, "too far in the past"),
                ("discount_eur", TOO_MUCH_EUR, "less than or equal to"),
            ],
        ),
        "pay_fee": (
            actor("bank", "b"),
            {"payment_ref": "R-1", "amount_rial": 1},
            [
                ("payment_ref", NUL, "control character"),
                ("amount_rial", TOO_MUCH_RIAL, "less than or equal to"),
            ],
        ),
        "submit": (order.me, {}, ENVELOPE_ONLY),
        "cancel": (order.me, {}, ENVELOPE_ONLY),
        "withdraw_permit_requests": (order.me, {}, ENVELOPE_ONLY),
        "expert_decide": (
            actor("expert", "expert-7"),
            {"approve": False, "reason": "ok"},
            text_cases("reason", commands.TEXT_MAX),
        ),
        "abort": ABORT,
    }
    assert set(cases) | {"decide_permit"} == set(trade_order_amendment.UPDATE_ROLES)
    for name, (who, base, bad) in cases.items():
        await refuses_every(handle, name, who, base, bad)
    status = await update(handle, "edit", actor=order.me, fleet="foreign")
    assert status["state"] == "Draft" and "submit" in status["allowed"]

    # A permit decision is judged once the edited content asks the organisation (G-1003 → G-1004).
    other = await registered_order(client, worker, tariff_code="87038010", goods_id="G-1003")
    asking = await start(
        client, worker, "TradeOrderAmendment", {"order_workflow_id": other.handle.id, "kind": "edit"}, "bounds-amend", by=other.me
    )
    for _ in range(100):
        if (await asking.query("status")).get("order_number"):
            break
        await asyncio.sleep(0.05)
    lines = (await asking.query("status"))["goods"]
    lines[0].update(tariff_code="87032491", goods_id="G-1004")
    await update(asking, "edit", actor=other.me, goods=lines)
    assert (await update(asking, "submit", actor=other.me))["state"] == "AwaitingPermit"
    bad_reasons = [("reason", BIG, "at most 300"), *text_cases("reason", commands.TEXT_MAX)]
    await refuses_every(asking, "decide_permit", actor("licensing_org", "MIMT"), {"approve": False, "reason": "ok"}, bad_reasons)
    status = await update(asking, "decide_permit", actor=actor("licensing_org", "MIMT"), approve=True)
    assert status["permits"]["MIMT"] == "approved"


# --- ImportPurchase ---


async def test_import_purchase_refuses_oversized_and_control_input(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:  # noqa: F811
    handle, nid = await begin(client, worker)
    await allocate(handle, env)
    me, bank, operator = actor("applicant", nid), actor("bank", "mellat"), actor("operator", "op-1")
    allocation = {
        "offering_id": "offer-1",
        "importer_id": IMPORTER,
        "model": "Changan CS55 Plus",
        "base_price_rial": 1,
        "pre_customs_costs_rial": 0,
        "delivery_due": "2030-01-01",
        "estimated_final_costs_rial": 0,
    }
    cases = {
        "allocate": (
            operator,
            allocation,
            [
                ("model", BIG, "at most 100"),
                *text_cases("model", commands.MODEL_MAX),
                *text_cases("offering_id", commands.CODE_MAX),
                *text_cases("importer_id", commands.CODE_MAX),
                ("base_price_rial", TOO_MUCH_RIAL, "less than or equal to"),
                ("pre_customs_costs_rial", 10**40, "less than or equal to"),
                ("estimated_final_costs_rial", TOO_MUCH_RIAL, "less than or equal to"),
                ("delivery_due", TOO_LATE, "too far in the future"),
                ("delivery_due", TOO_EARLY, "too far in the past"),
            ],
        ),
        "pay_stage": (
            bank,
            {"stage": "2", "payment_ref": "S2-1", "amount_rial": 1},
            [
                ("payment_ref", BIG, "at most 64"),
                ("payment_ref", NUL, "control character"),
                ("amount_rial", TOO_MUCH_RIAL, "less than or equal to"),
            ],
        ),
        "customs_arrival": (
            actor("customs", "customs-1"),
            {"final_costs_rial": 1},
            [("final_costs_rial", TOO_MUCH_RIAL, "less than or equal to")],
        ),
        "deliver": (
            actor("importer", IMPORTER),
            {"vin": "NAAM01CA000000001"},
            [("vin", BIG, "vin"), ("vin", "NAAM01CA00000000\x00", "vin")],
        ),
        "withdraw": (me, {"code": "123456"}, [("code", BIG, "code"), ("code", "12345\x00", "code")]),
        "sign_contract": (me, {}, ENVELOPE_ONLY),
        "decline_allocation": (me, {}, ENVELOPE_ONLY),
        "apply_offering": (me, {"offering_id": "offer-1"}, text_cases("offering_id", commands.CODE_MAX)),
        "withdraw_application": (me, {}, ENVELOPE_ONLY),
        "request_withdrawal_code": (me, {}, ENVELOPE_ONLY),
        "cancel_for_delay": (me, {}, ENVELOPE_ONLY),
        "deposit_unblocked": (bank, {}, ENVELOPE_ONLY),
        "reinstate": (operator, {}, ENVELOPE_ONLY),
        "abort": ABORT,
    }
    assert set(cases) == set(import_purchase.COMMANDS)
    for name, (who, base, bad) in cases.items():
        await refuses_every(handle, name, who, base, bad)
    status = await update(handle, "sign_contract", actor=me)
    assert status["state"] == "Signed"


async def test_import_purchase_start_refuses_oversized_and_control_input(client: Client, worker: Worker) -> None:
    bad = [
        ({"scheme_id": over(commands.CODE_MAX)}, "scheme_id", "at most 64"),
        ({"scheme_id": NUL}, "scheme_id", "control character"),
        ({"applicant": {"full_name": BIG}}, "applicant.full_name", "at most 200"),
        ({"applicant": {"full_name": NUL}}, "applicant.full_name", "control character"),
        ({"deposit": {"bank": over(commands.CODE_MAX)}}, "deposit.bank", "at most 64"),
        ({"deposit": {"account": NUL}}, "deposit.account", "control character"),
        ({"deposit": {"amount_rial": TOO_MUCH_RIAL}}, "deposit.amount_rial", "less than or equal to"),
    ]
    for overrides, field, says in bad:
        await refused_start(client, worker, "ImportPurchase", purchase_input(new_national_id(), **overrides), field, says)


# --- plates ---


async def test_numbering_refuses_oversized_and_control_input(client: Client, worker: Worker) -> None:
    year = (await server_now()).year
    data = numbering_input(year=year)
    handle = await start(client, worker, "VehicleNumbering", data, "bounds-numbering")
    status = await settled(handle)
    owner = actor("applicant", data["owner"]["national_id"])
    cases = {
        "submit_document": (
            owner,
            {"kind": "vehicle_card"},
            [
                ("reference", BIG, "at most 300"),
                *text_cases("reference", commands.TEXT_MAX),
                *text_cases("kind", commands.CODE_MAX),
            ],
        ),
        "inspect": (
            OFFICER,
            {"passed": False, "notes": "n"},
            [("notes", BIG, "at most 300"), *text_cases("notes", commands.TEXT_MAX)],
        ),
        "pay_plate_fee": (
            BANK,
            {"payment_ref": "F-1", "amount_rial": 1},
            [
                ("payment_ref", NUL, "control character"),
                ("amount_rial", TOO_MUCH_RIAL, "less than or equal to"),
            ],
        ),
        "abort": ABORT,
    }
    assert set(cases) == set(plates.NUMBERING_COMMANDS)
    for name, (who, base, bad) in cases.items():
        await refuses_every(handle, name, who, base, bad)
    kind = next(k for k in status["missing"] if k in status["checklist"])
    status = await update(handle, "submit_document", actor=owner, kind=kind, reference="ref-1")
    assert status["checklist"][kind] is True

    bad_starts = [
        (set_path(data, "owner.full_name", over(commands.NAME_MAX)), "owner.full_name", "at most 200"),
        (set_path(data, "owner.full_name", NUL), "owner.full_name", "control character"),
        (set_path(data, "vin", data["vin"] + "\x00"), "vin", "vin"),
        (set_path(data, "vin", BIG), "vin", "vin"),
        (set_path(data, "vehicle.production_year", policy.MAX_YEAR + 1), "production_year", "less than or equal to"),
        (set_path(data, "region_code", "1\x00"), "region_code", "region_code"),
        (
            {
                **data,
                "category": "veteran",
                "mental_disability": True,
                "disabled_person": {"national_id": new_national_id(), "full_name": NUL},
            },
            "disabled_person.full_name",
            "control character",
        ),
    ]
    for body, field, says in bad_starts:
        await refused_start(client, worker, "VehicleNumbering", body, field, says)


async def test_transfer_refuses_oversized_and_control_input(client: Client, worker: Worker) -> None:
    vin, seller, _ = seed_vehicle()
    data = {"vin": vin, "seller": {"national_id": seller}, "buyer": {"national_id": new_national_id(), "full_name": "سارا محمدی"}}
    handle = await start(client, worker, "PlateTransfer", data, "bounds-transfer")
    await settled(handle)
    me = actor("seller", seller)
    cases = {
        "submit_document": (
            me,
            {"kind": "vehicle_card"},
            [
                ("reference", BIG, "at most 300"),
                *text_cases("reference", commands.TEXT_MAX),
                *text_cases("kind", commands.CODE_MAX),
            ],
        ),
        "confirm_presence": (OFFICER, {"party": "seller"}, [("party", BIG, "party"), ("party", "seller\x00", "party")]),
        "pay_plate_fee": (
            BANK,
            {"payment_ref": "T-1", "amount_rial": 1},
            [("payment_ref", NUL, "control character"), ("amount_rial", TOO_MUCH_RIAL, "less than or equal to")],
        ),
        "consent": (me, {}, ENVELOPE_ONLY),
        "cancel": (actor("buyer", data["buyer"]["national_id"]), {}, ENVELOPE_ONLY),
        "abort": ABORT,
    }
    assert set(cases) == set(plates.TRANSFER_COMMANDS)
    for name, (who, base, bad) in cases.items():
        await refuses_every(handle, name, who, base, bad)
    status = await update(handle, "confirm_presence", actor=OFFICER, party="seller")
    assert status["state"] == "Open"

    for body, field, says in [
        (set_path(data, "buyer.full_name", BIG), "buyer.full_name", "at most 200"),
        (set_path(data, "buyer.full_name", NUL), "buyer.full_name", "control character"),
        ({**data, "region_code": over(2)}, "region_code", "region_code"),
    ]:
        await refused_start(client, worker, "PlateTransfer", body, field, says)


async def test_plate_service_refuses_oversized_and_control_input(client: Client, worker: Worker) -> None:
    vin, owner_id, _ = seed_vehicle()
    data = {
        "service": "part_change",
        "vin": vin,
        "owner": {"national_id": owner_id, "full_name": "علی رضایی"},
        "change": {"part": "colour", "colour": "dark_blue"},
    }
    handle = await start(client, worker, "PlateService", data, "bounds-service")
    status = await settled(handle)
    owner = actor("owner", owner_id)
    cases = {
        "submit_document": (
            owner,
            {"kind": "vehicle_card"},
            [
                ("reference", BIG, "at most 300"),
                *text_cases("reference", commands.TEXT_MAX),
                *text_cases("kind", commands.CODE_MAX),
                ("published_on", TOO_LATE, "too far in the future"),
                ("published_on", TOO_EARLY, "too far in the past"),
                ("published_on", "0001-01-01", "too far in the past"),
            ],
        ),
        "inspect": (
            OFFICER,
            {"passed": False, "notes": "n"},
            [("notes", BIG, "at most 300"), *text_cases("notes", commands.TEXT_MAX)],
        ),
        "pay_fee": (
            BANK,
            {"payment_ref": "S-1", "amount_rial": 1},
            [("payment_ref", NUL, "control character"), ("amount_rial", TOO_MUCH_RIAL, "less than or equal to")],
        ),
        "consent": (owner, {}, ENVELOPE_ONLY),
        "cancel": (owner, {}, ENVELOPE_ONLY),
        "record_finding": (
            OFFICER,
            {"part": "colour", "colour": "white", "price_rial": 1},
            [
                ("price_rial", TOO_MUCH_RIAL, "less than or equal to"),
                *text_cases("notes", commands.TEXT_MAX),
                *text_cases("colour", commands.KIND_MAX),
            ],
        ),
        "set_fine": (
            actor("expert", "appeal-unit"),
            {"fine_rial": 1},
            [("fine_rial", TOO_MUCH_RIAL, "less than or equal to"), *text_cases("notes", commands.TEXT_MAX)],
        ),
        "pay_fine": (
            BANK,
            {"payment_ref": "F-1", "amount_rial": 1},
            [("payment_ref", NUL, "control character"), ("amount_rial", TOO_MUCH_RIAL, "less than or equal to")],
        ),
        "abort": ABORT,
    }
    assert set(cases) == set(plate_services.COMMANDS)
    for name, (who, base, bad) in cases.items():
        await refuses_every(handle, name, who, base, bad)
    await refuses_every(
        handle,
        "submit_document",
        owner,
        {"kind": "part_invoice", "part": {"invoice_number": "F1", "new": True, "body_type": "sedan"}},
        [
            *text_cases("part.invoice_number", commands.CODE_MAX),
            *text_cases("part.body_type", commands.CODE_MAX),
            ("part.cylinders", 17, "less than or equal to"),
        ],
    )
    kind = next(k for k in status["missing"] if k in status["checklist"])
    status = await update(handle, "submit_document", actor=owner, kind=kind)
    assert status["checklist"][kind] is True

    for body, field, says in [
        (set_path(data, "change.colour", over(commands.KIND_MAX)), "change.colour", "at most 32"),
        (set_path(data, "change.colour", NUL), "change.colour", "control character"),
        (set_path(data, "owner.full_name", BIG), "owner.full_name", "at most 200"),
        ({**data, "change": {"part": "body", "body_type": NUL}}, "change.body_type", "control character"),
    ]:
        await refused_start(client, worker, "PlateService", body, field, says)


# --- activity failures: permanent ones refused at once, transient ones alerted once ---

ATTEMPTS: dict[str, list[int]] = defaultdict(list)
"""Attempts each probe activity made, by ``workflow_id:activity_type`` (the probe worker runs in this process)."""


def _attempt() -> None:
    info = activity.info()
    ATTEMPTS[f"{info.workflow_id}:{info.activity_type}"].append(info.attempt)


@activity.defn
def probe_data_error(path: str) -> None:
    """A name longer than the database allows: a real ``DataError`` from SQLite."""
    _attempt()
    engine = create_engine(f"sqlite:///{path}", hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _limit(connection: sqlite3.Connection, _record: Any) -> None:
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100)

    try:
        with Session(engine) as session, session.begin():
            session.add(Person(national_id="0012345679", full_name="رضا رضایی " * 50))
    finally:
        engine.dispose()


@activity.defn
def probe_integrity_error(_: str) -> None:
    """A person without a name in the registry: a real ``IntegrityError`` (NOT NULL)."""
    _attempt()
    with session_scope() as session:
        session.add(Person(national_id=new_national_id(), full_name=None))  # type: ignore[arg-type]


@activity.defn
def probe_value_error(_: str) -> None:
    """Our own code refusing a value, in words that quote it."""
    _attempt()
    raise ValueError("national id 0012345679 is not what we expected")


@activity.defn
def probe_unreachable_database(path: str) -> None:
    """A database that cannot be opened: a real ``OperationalError``, as when the server is down."""
    _attempt()
    with create_engine(f"sqlite:///{path}/missing-dir/registry.sqlite3").connect():
        pass


@workflow.defn(name="BoundsProbe")
class ProbeWorkflow:
    @workflow.run
    async def run(self, which: str, path: str) -> dict[str, Any]:
        try:
            await workflow.execute_activity(
                which,
                path,
                start_to_close_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=50),
                    backoff_coefficient=1.0,
                    maximum_attempts=policy.ACTIVITY_ALERT_AFTER_ATTEMPTS + 2,
                ),
            )
        except ActivityError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError)
            return {"type": cause.type, "non_retryable": cause.non_retryable, "message": cause.message}
        return {}


@pytest.fixture(scope="module")
async def probe_worker(env: WorkflowEnvironment) -> Any:  # noqa: F811
    from worker import build_worker

    activities = [probe_data_error, probe_integrity_error, probe_value_error, probe_unreachable_database]
    async with build_worker(
        env.client,
        f"probe-{uuid.uuid4()}",
        workflows=[ProbeWorkflow],
        activities=activities,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


async def probe(client: Client, probe_worker: Worker, which: str, path: Path) -> tuple[str, dict[str, Any]]:
    """Run a probe; its result read from the closed history (see :func:`refused_start`)."""
    workflow_id = f"probe-{which}-{uuid.uuid4()}"
    handle = await client.start_workflow(
        "BoundsProbe", args=[which, str(path)], id=workflow_id, task_queue=probe_worker.task_queue
    )
    await closed(handle)
    history = await handle.fetch_history()
    completed = history.events[-1].workflow_execution_completed_event_attributes
    [result] = await client.data_converter.decode(completed.result.payloads, [dict])
    return workflow_id, result


def alerts(workflow_id: str) -> list[OutboxMessage]:
    with session_scope() as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id, OutboxMessage.kind == "alert"))
        )


@pytest.mark.parametrize(
    ("which", "attempts", "says"),
    [
        ("probe_data_error", [1], "DataError"),
        ("probe_value_error", [1], "ValueError"),
        ("probe_integrity_error", list(range(1, policy.ACTIVITY_INTEGRITY_ATTEMPTS + 1)), "IntegrityError"),
    ],
)
async def test_a_permanent_failure_is_rejected_at_once_naming_no_value(
    client: Client, probe_worker: Worker, tmp_path: Path, which: str, attempts: list[int], says: str
) -> None:
    if which == "probe_data_error":
        with create_engine(f"sqlite:///{tmp_path / 'small.sqlite3'}").begin() as connection:
            Person.__table__.create(connection)
        path = tmp_path / "small.sqlite3"
    else:
        path = tmp_path
    workflow_id, result = await probe(client, probe_worker, which, path)
    assert result["type"] == "Rejected" and result["non_retryable"] is True, result
    assert result["message"].startswith(f"{which}: ") and says in result["message"], result
    assert "0012345679" not in result["message"] and "رضا" not in result["message"] and "INSERT" not in result["message"]
    assert ATTEMPTS[f"{workflow_id}:{which}"] == attempts
    assert alerts(workflow_id) == []


async def test_a_transient_failure_keeps_retrying_and_alerts_the_operators_once(
    client: Client, probe_worker: Worker, tmp_path: Path
) -> None:
    workflow_id, result = await probe(client, probe_worker, "probe_unreachable_database", tmp_path)
    # Retried until the probe's own policy gave up; never turned into a rejection.
    assert ATTEMPTS[f"{workflow_id}:probe_unreachable_database"] == list(range(1, policy.ACTIVITY_ALERT_AFTER_ATTEMPTS + 3))
    assert result["type"] == "OperationalError" and result["non_retryable"] is False, result
    assert str(tmp_path) not in result["message"]
    [alert] = alerts(workflow_id)  # one, though three attempts reached the bound
    assert alert.to == "operator" and alert.step.startswith("alert:probe_unreachable_database:")
    assert workflow_id in alert.text and "probe_unreachable_database" in alert.text and "OperationalError" in alert.text


async def test_a_workflow_id_longer_than_the_registry_keeps_is_refused_at_start(client: Client, worker: Worker) -> None:
    """Every registry row is keyed by the workflow id (200 characters): a longer one is refused
    before anything is written, not left to fail an activity."""
    nid = new_national_id()
    data = {"applicant": {"national_id": nid, "full_name": "علی رضایی"}}
    workflow_id = "long-" + "x" * commands.WORKFLOW_ID_MAX
    handle = await client.start_workflow(
        "TradeOrder", await signed_start(workflow_id, "TradeOrder", data), id=workflow_id, task_queue=worker.task_queue
    )
    await closed(handle)
    status = await handle.query("status")
    assert status["state"] == "Refused" and "at most 200 printable characters" in status["reason"]
    with session_scope() as session:
        assert session.get(CaseClaim, handle.id) is None
