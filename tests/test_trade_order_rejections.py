"""Every TradeOrder rejection rule: the validator refuses, and state and history stay as they were.

``rejected`` (tests/helpers.py) asserts the unchanged state and history for each call.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.worker import Worker

from demo.samples import trade_order_sections
from tests.helpers import actor, new_national_id, rejected, sha, update
from tests.trade_order_support import TradeCase, awaiting_fee, filled_file, open_file, submitted


def sample(name: str, **changes: Any) -> dict[str, Any]:
    fields = dict(trade_order_sections(date.today())[name])
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


@pytest.fixture
async def draft(client: Client, worker: Worker) -> TradeCase:
    return await open_file(client, worker)


@pytest.mark.parametrize(
    ("update", "fields", "fragment"),
    [
        (
            "save_main_info",
            sample("save_main_info", proforma_date="2026-05-02", proforma_valid_until="2026-05-01"),
            "before proforma_date",
        ),
        ("save_main_info", sample("save_main_info", proforma_date="2026-13-01"), "proforma_date"),
        ("save_main_info", sample("save_main_info", seller={"type": "company", "id": "DE-1"}), "seller.name"),
        ("save_main_info", sample("save_main_info", colour="red"), "colour"),
        ("save_transport", sample("save_transport", shipping_method=""), "shipping_method"),
        ("save_transport", sample("save_transport", entry_border=["bazargan", "bandar-abbas"]), "multiple_shipments"),
        ("save_transport", sample("save_transport", through_transport="yes"), "through_transport"),
        ("save_financials", sample("save_financials", currency_source="crypto"), "currency_source"),
        ("save_financials", sample("save_financials", freight_eur=1200.5), "not floats"),
        ("save_financials", sample("save_financials", discount_eur="-5"), "discount_eur"),
        ("save_financials", sample("save_financials", other_costs_eur="12.345"), "other_costs_eur"),
        ("add_goods", sample("add_goods", fob_eur="abc"), "fob_eur"),
        ("add_goods", sample("add_goods", quantity=0), "quantity"),
        ("add_goods", sample("add_goods", quantity=1.5), "quantity"),
        ("add_goods", sample("add_goods", tariff_code=""), "tariff_code"),
        ("attach_document", sample("attach_document", kind="selfie"), "kind"),
        ("attach_document", sample("attach_document", sha256="not-a-hash"), "sha256"),
    ],
)
async def test_field_rules(draft: TradeCase, update: str, fields: dict[str, Any], fragment: str) -> None:
    message = await rejected(draft.handle, update, actor=draft.me, **fields)
    assert fragment in message


async def test_missing_actor_and_non_object_argument(draft: TradeCase) -> None:
    assert "actor_token is missing" in await rejected(draft.handle, "save_main_info", proforma_number="x")
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await draft.handle.execute_update("save_main_info", ["not", "an", "object"])
    assert "one JSON object" in str(info.value.cause)
    assert (await draft.status())["history"] == []


async def test_role_and_identity(draft: TradeCase) -> None:
    fields = sample("save_main_info")
    assert "role 'bank'" in await rejected(draft.handle, "save_main_info", actor=actor("bank", draft.national_id), **fields)
    assert "owner" in await rejected(draft.handle, "save_main_info", actor=actor("applicant", new_national_id()), **fields)
    # Roles and subjects are the token's claims: one the contract does not know proves nothing.
    assert "claim 'role'" in await rejected(draft.handle, "save_main_info", actor=actor("astronaut", "x"), **fields)
    assert "claim 'sub'" in await rejected(draft.handle, "save_main_info", actor=actor("applicant", ""), **fields)


async def test_submit_names_what_is_missing(draft: TradeCase) -> None:
    await draft.send("save_main_info", **sample("save_main_info"))
    message = await rejected(draft.handle, "submit", actor=draft.me)
    assert "transport.shipping_method" in message and "goods" in message and "documents.proforma" in message
    assert "main_info" not in message


async def test_a_zero_total_cannot_be_submitted(client: Client, worker: Worker) -> None:
    case = await filled_file(client, worker, overrides={"save_financials": {"discount_eur": "30000.00"}})
    assert "proforma total above zero" in await rejected(case.handle, "submit", actor=case.me)


async def test_commands_out_of_state(client: Client, worker: Worker, draft: TradeCase) -> None:
    assert "not allowed in state Draft" in await rejected(draft.handle, "void", actor=draft.me)
    assert "not allowed in state Draft" in await rejected(draft.handle, "inquire_rules", actor=draft.me)
    assert "not allowed in state Draft" in await rejected(
        draft.handle, "pay_fee", actor=actor("bank", "b"), payment_ref="r", amount_rial=1
    )

    case = await submitted(client, worker)
    assert "not allowed in state New" in await rejected(case.handle, "save_main_info", actor=case.me, **sample("save_main_info"))
    assert "not allowed in state New" in await rejected(case.handle, "submit", actor=case.me)
    assert "not allowed in state New" in await rejected(case.handle, "request_permits", actor=case.me)
    assert "carries no field" in await rejected(case.handle, "edit", actor=case.me)


async def test_permit_decisions(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker)
    await case.send("inquire_rules")
    await case.send("request_permits")
    assert "was not asked" in await rejected(case.handle, "decide_permit", actor=actor("licensing_org", "ISIRI"), approve=True)
    assert "role 'applicant'" in await rejected(case.handle, "decide_permit", actor=case.me, approve=True)
    assert "needs a reason" in await rejected(case.handle, "decide_permit", actor=actor("licensing_org", "DOE"), approve=False)
    await update(case.handle, "decide_permit", actor=actor("licensing_org", "DOE"), approve=True)
    assert "already answered" in await rejected(
        case.handle, "decide_permit", actor=actor("licensing_org", "DOE"), approve=False, reason="x"
    )
    assert "not allowed in state AwaitingPermit" in await rejected(
        case.handle, "attach_document", actor=case.me, **sample("attach_document")
    )
    assert "not allowed in state AwaitingPermit" in await rejected(case.handle, "void", actor=case.me)


async def test_fee_payment_rules(client: Client, worker: Worker) -> None:
    case, status = await awaiting_fee(client, worker)
    fee = status["fee_rial"]
    bank = actor("bank", "mellat")
    assert "must equal fee_rial" in await rejected(case.handle, "pay_fee", actor=bank, payment_ref="r1", amount_rial=fee - 1)
    assert "must equal fee_rial" in await rejected(case.handle, "pay_fee", actor=bank, payment_ref="r1", amount_rial=fee + 1)
    assert "whole numbers" in await rejected(case.handle, "pay_fee", actor=bank, payment_ref="r1", amount_rial=float(fee))
    assert "whole numbers" in await rejected(case.handle, "pay_fee", actor=bank, payment_ref="r1", amount_rial=str(fee))
    assert "greater than 0" in await rejected(case.handle, "pay_fee", actor=bank, payment_ref="r1", amount_rial=-fee)
    assert "role 'applicant'" in await rejected(case.handle, "pay_fee", actor=case.me, payment_ref="r1", amount_rial=fee)
    assert "payment_ref" in await rejected(case.handle, "pay_fee", actor=bank, amount_rial=fee)
    assert "not allowed in state AwaitingFee" in await rejected(case.handle, "edit", actor=case.me, fleet="x")


async def test_an_edit_of_a_rejected_file_keeps_field_rules(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker, overrides={"save_transport": {"through_transport": True}})
    await case.send("inquire_rules")
    assert "before proforma_date" in await rejected(case.handle, "edit", actor=case.me, proforma_valid_until="2000-01-01")
    assert "goods" in await rejected(case.handle, "edit", actor=case.me, goods=[{"tariff_code": "87032391"}])
    status = await case.send("attach_document", kind="other", name="letter.pdf", sha256=sha("letter"))
    assert status["state"] == "New"


async def test_an_edit_cannot_bring_the_total_to_zero(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker)
    assert "must stay above zero" in await rejected(case.handle, "edit", actor=case.me, discount_eur="99999.00")


def test_a_fee_payment_after_its_window_is_refused_even_before_the_timer_fires(monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's timer and a payment can land in one activation, the payment first."""
    from datetime import datetime

    from temporalio import workflow
    from temporalio.exceptions import ApplicationError

    from workflows.trade_order import check_fee_payment

    deadline = "2026-01-16T10:00:00Z"
    monkeypatch.setattr(workflow, "now", lambda: datetime(2026, 1, 16, 9, 59, tzinfo=UTC))
    check_fee_payment(1000, 1000, deadline)  # a minute early: accepted
    monkeypatch.setattr(workflow, "now", lambda: datetime(2026, 1, 16, 10, 0, tzinfo=UTC))
    with pytest.raises(ApplicationError, match="window closed"):
        check_fee_payment(1000, 1000, deadline)


def test_the_migration_opens_no_currency_source_a_tariff_did_not_name(empty_database: str) -> None:
    """Tariffs loaded before 0007 had own_currency_allowed true by default (the bug): after the
    upgrade they allow none of the tariff-listed sources until reference data names them."""
    import sqlalchemy as sa
    from alembic import command

    from registry.db import _alembic_config, engine_for, migrate

    command.upgrade(_alembic_config(empty_database), "0006")
    tariffs = sa.table(
        "veteran_car_tariffs",
        sa.column("code"),
        sa.column("permits", sa.JSON),
        sa.column("expert_review"),
        sa.column("priority_group"),
        sa.column("ministry_priced"),
        sa.column("own_currency_allowed"),
    )
    engine = engine_for(empty_database)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(tariffs).values(
                code="87030001",
                permits=[],
                expert_review=False,
                priority_group=25,
                ministry_priced=False,
                own_currency_allowed=True,
            )
        )
    migrate(empty_database)
    with engine.begin() as connection:
        row = connection.execute(sa.text("SELECT currency_sources FROM veteran_car_tariffs WHERE code = '87030001'")).one()
    assert row[0] in ([], "[]")
