"""Seed 003 as issue 9 corrected it, beyond the first corrections: goods lines refused when given
(the case carries the goods catalogue), and what items 14 adds."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from activities.trade_order import CatalogueRequest, load_goods_catalogue
from domain import policy
from registry.db import session_scope
from registry.models import CaseClaim, OutboxMessage, TradeFile
from registry.refdata import load_refdata
from tests.helpers import actor, new_national_id, rejected, start, update
from tests.test_trade_order_amendment import amendment, registered
from tests.trade_order_support import TradeCase, awaiting_fee, filled_file, fresh_goods, open_file, submitted

OFFERED = {"tariff_code": "87032391", "goods_id": "G-1001", "fob_eur": "21000.00", "technical_specs": "1.5 TSI"}


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ({"goods_id": "G-2001"}, "goods id G-2001 is not offered: it has no registered agency"),  # has_agency false
        ({"goods_id": "G-9999"}, "goods id G-9999 is not offered"),  # not in the reference data at all
        ({"tariff_code": "99999999"}, "tariff code 99999999 is not on the veterans'-car tariff list"),
        ({"tariff_code": "87032392"}, "goods id G-1001 belongs to tariff 87032391, not 87032392"),
    ],
)
async def test_add_goods_offers_only_goods_with_an_agency(
    client: Client, worker: Worker, line: dict[str, str], fragment: str
) -> None:
    """«تنها شناسه کالاهایی نمایش داده میشود که نمایندگی ... دریافت شده باشد»: refused by the
    validator when given, leaving no history (before, only the inquiry refused them)."""
    case = await open_file(client, worker)
    message = await rejected(case.handle, "add_goods", actor=case.me, **{**OFFERED, **line})
    assert message.startswith(f"add_goods: {fragment}")
    await case.send("add_goods", **OFFERED)
    assert [g["goods_id"] for g in (await case.status())["goods"]] == ["G-1001"]


async def test_edit_with_goods_is_checked_against_the_catalogue(client: Client, worker: Worker) -> None:
    case = await submitted(client, worker)
    message = await rejected(case.handle, "edit", actor=case.me, goods=[OFFERED, {**OFFERED, "goods_id": "G-2001"}])
    assert message == "edit: goods 2: goods id G-2001 is not offered: it has no registered agency or after-sales service"
    status = await case.send("edit", goods=[OFFERED, {**OFFERED, "goods_id": "G-1004", "tariff_code": "87032491"}])
    assert len(status["goods"]) == 2


async def test_the_catalogue_is_refreshed_at_submit(client: Client, worker: Worker) -> None:
    """Goods given an agency after the case started are offered once the case refreshed its catalogue."""
    tariff, goods = fresh_goods(has_agency=False)
    case = await filled_file(client, worker)
    line = {**OFFERED, "tariff_code": tariff, "goods_id": goods}
    assert "no registered agency" in await rejected(case.handle, "add_goods", actor=case.me, **line)
    load_refdata({"goods": [{"goods_id": goods, "tariff_code": tariff, "has_agency": True}]})
    assert "no registered agency" in await rejected(case.handle, "add_goods", actor=case.me, **line)  # not yet refreshed
    await case.send("submit")  # refreshes it
    status = await case.send("add_goods", **line)
    assert status["goods"][-1]["goods_id"] == goods


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ({"goods_id": "G-2001"}, "goods 1: goods id G-2001 is not offered"),
        ({"technical_specs": None}, "goods 1: a goods line needs at least one of technical_specs or standard"),
    ],
)
async def test_a_copy_naming_goods_not_offered_is_refused_writing_nothing(
    client: Client, worker: Worker, line: dict[str, str | None], fragment: str
) -> None:
    original = await open_file(client, worker)
    goods = {k: v for k, v in {**OFFERED, **line}.items() if v is not None}
    handle = await start(
        client,
        worker,
        "TradeOrder",
        {"applicant": {"national_id": original.national_id, "full_name": "علی رضایی"}, "sections": {"goods": [goods]}},
        "trade-order-copy",
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert fragment in str(failure.value.cause)
    status = await handle.query("status")
    assert status["state"] == "Refused" and fragment in status["reason"]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(CaseClaim).where(CaseClaim.workflow_id == handle.id)) == 0
        assert session.scalar(select(func.count()).select_from(TradeFile).where(TradeFile.workflow_id == handle.id)) == 0


async def test_an_amendment_edit_offers_only_goods_with_an_agency(client: Client, worker: Worker) -> None:
    order, _ = await registered(client, worker)
    handle = await amendment(client, worker, order, "edit")
    goods = (await handle.query("status"))["goods"]
    message = await rejected(handle, "edit", actor=order.me, goods=[{**goods[0], "goods_id": "G-2001"}])
    assert message == "edit: goods 1: goods id G-2001 is not offered: it has no registered agency or after-sales service"


def test_a_catalogue_past_the_bound_is_not_carried(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past policy.MAX_CATALOGUE_ENTRIES the case carries none and the inquiry alone checks goods."""
    answer = load_goods_catalogue(CatalogueRequest("wf"))
    assert answer.complete and "G-1001" in answer.catalogue.goods and "G-2001" not in answer.catalogue.goods
    assert "87032391" in answer.catalogue.tariffs
    monkeypatch.setattr(policy, "MAX_CATALOGUE_ENTRIES", len(answer.catalogue.tariffs) + len(answer.catalogue.goods) - 1)
    answer = load_goods_catalogue(CatalogueRequest("wf"))
    assert not answer.complete and answer.catalogue.goods == {}


# --- item 14: contract type and shipping methods (seed 003 §2) ---


@pytest.mark.parametrize(
    ("contract_type", "method", "accepted"),
    [("FOB", "sea", True), ("FOB", "road", False), ("CIF", "air", False), ("EXW", "road", True), ("DAP", "rail", True)],
)
async def test_the_contract_type_decides_the_shipping_methods(
    client: Client, worker: Worker, contract_type: str, method: str, accepted: bool
) -> None:
    """«روش حمل را باتوجه به نوع قرارداد از لیست انتخاب» (policy.INCOTERM_SHIPPING_METHODS, ours from Incoterms 2020)."""
    case = await open_file(client, worker)
    fields = {"contract_type": contract_type, "shipping_method": method}
    if accepted:
        status = await case.send("save_transport", **fields)
        assert status["transport"]["contract_type"] == contract_type
    else:
        message = await rejected(case.handle, "save_transport", actor=case.me, **fields)
        assert f"shipping_method {method!r} is not one contract type {contract_type} allows" in message


async def test_a_saved_method_binds_a_later_contract_type(client: Client, worker: Worker) -> None:
    """The check runs on the section as it would be after the save, not on the fields sent alone."""
    case = await open_file(client, worker)
    await case.send("save_transport", shipping_method="air")
    message = await rejected(case.handle, "save_transport", actor=case.me, contract_type="CIF")
    assert "shipping_method 'air' is not one contract type CIF allows" in message
    await case.send("save_transport", contract_type="CPT")


async def test_submit_needs_the_contract_type(client: Client, worker: Worker) -> None:
    case = await filled_file(client, worker, overrides={"save_transport": {"contract_type": None}})
    assert "submit" not in (await case.status())["allowed"]
    message = await rejected(case.handle, "submit", actor=case.me)
    assert message.endswith("the file is incomplete; missing: transport.contract_type"), message
    await case.send("save_transport", contract_type="FOB")
    assert (await case.send("submit"))["state"] == "New"


# --- item 14: access to the file (تغییر سطح دسترسی, seed 003 §8) ---


async def test_access_granted_to_a_broker_follows_its_level_and_is_revoked(client: Client, worker: Worker) -> None:
    case = await filled_file(client, worker)
    broker = actor("applicant", new_national_id())
    assert "only the file's owner" in await rejected(case.handle, "save_main_info", actor=broker, loading_place="x")

    status = await case.send("grant_access", grantee_national_id=broker["id"], level="edit")
    assert status["access"] == {broker["id"]: "edit"}
    status = await update(case.handle, "save_transport", actor=broker, loading_place="Bremen")
    assert status["transport"]["loading_place"] == "Bremen"
    assert "only the file's owner" in await rejected(case.handle, "submit", actor=broker)  # edit does not submit

    await case.send("grant_access", grantee_national_id=broker["id"], level="full")
    status = await update(case.handle, "submit", actor=broker)
    assert status["state"] == "New"
    for own in ("void", "grant_access", "revoke_access"):  # the owner's alone, at every level
        fields = {"reason": "x"} if own == "void" else {"grantee_national_id": broker["id"]}
        if own == "grant_access":
            fields["level"] = "full"
        assert "only the file's owner" in await rejected(case.handle, own, actor=broker, **fields)

    status = await case.send("revoke_access", grantee_national_id=broker["id"])
    assert status["access"] == {}
    assert "only the file's owner" in await rejected(case.handle, "inquire_rules", actor=broker)
    history = [h["event"] for h in status["history"]]
    assert history.count("grant_access") == 2 and history.count("revoke_access") == 1


async def test_access_grants_are_bounded_and_checked(client: Client, worker: Worker) -> None:
    case = await open_file(client, worker)
    message = await rejected(case.handle, "grant_access", actor=case.me, grantee_national_id=case.national_id, level="edit")
    assert message == "grant_access: the applicant has every access to the file already"
    other = new_national_id()
    assert "that user has no access" in await rejected(case.handle, "revoke_access", actor=case.me, grantee_national_id=other)
    for _ in range(policy.MAX_ACCESS_GRANTS):
        await case.send("grant_access", grantee_national_id=new_national_id(), level="edit")
    message = await rejected(case.handle, "grant_access", actor=case.me, grantee_national_id=other, level="edit")
    assert message.startswith(f"grant_access: the file is shared with {policy.MAX_ACCESS_GRANTS} users already")


# --- item 14: the central bank's currency allocation (seed 003 §3) ---


async def bank_system_file_paid(client: Client, worker: Worker) -> tuple[TradeCase, dict[str, Any]]:
    """A file buying its currency from the banking system (tariff 87032391, group 25), its fee paid."""
    case, status = await awaiting_fee(client, worker, overrides={"save_financials": {"currency_source": "bank_system"}})
    status = await update(
        case.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=f"P-{case.handle.id}", amount_rial=status["fee_rial"]
    )
    return case, status


async def test_a_bank_system_file_waits_for_the_central_banks_allocation(client: Client, worker: Worker) -> None:
    """«باید توسط بانک مرکزی تخصیص ارز را دریافت کنند»: registered (its number issued), then allocated."""
    case, status = await bank_system_file_paid(client, worker)
    assert status["state"] == "AwaitingAllocation" and status["order_number"]
    assert status["allowed"] == ["allocate_currency", "abort"]
    with session_scope() as session:
        sent = session.scalars(select(OutboxMessage).where(OutboxMessage.workflow_id == case.handle.id)).all()
        assert [(m.to, m.kind) for m in sent if m.kind == "currency_allocation_request"] == [
            (policy.CENTRAL_BANK_ID, "currency_allocation_request")
        ]

    message = await rejected(case.handle, "allocate_currency", actor=actor("bank", "mellat"), approve=True, allocation_ref="A-1")
    assert message == f"allocate_currency: only the central bank ({policy.CENTRAL_BANK_ID}) allocates currency"
    cbi = actor("bank", policy.CENTRAL_BANK_ID)
    assert "an allocation needs allocation_ref" in await rejected(case.handle, "allocate_currency", actor=cbi, approve=True)
    status = await update(case.handle, "allocate_currency", actor=cbi, approve=True, allocation_ref="CBI-1405-000123")
    assert status["state"] == "Registered" and status["allocation_ref"] == "CBI-1405-000123"
    assert (await case.handle.result())["state"] == "Registered"


async def test_a_refused_allocation_ends_the_file(client: Client, worker: Worker) -> None:
    case, _ = await bank_system_file_paid(client, worker)
    cbi = actor("bank", policy.CENTRAL_BANK_ID)
    assert "a refusal needs a reason" in await rejected(case.handle, "allocate_currency", actor=cbi, approve=False)
    status = await update(case.handle, "allocate_currency", actor=cbi, approve=False, reason="quota of group 25 exhausted")
    assert status["state"] == "AllocationRefused"
    assert status["rejection_reasons"] == ["quota of group 25 exhausted"]
    assert (await case.handle.result())["state"] == "AllocationRefused"


async def test_other_currency_sources_are_registered_at_once(client: Client, worker: Worker) -> None:
    case, status = await awaiting_fee(client, worker)  # own_currency
    assert "allocate_currency" not in status["allowed"]
    status = await update(
        case.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=f"P-{case.handle.id}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Registered" and status["allocation_ref"] is None
