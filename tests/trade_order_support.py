"""Driving TradeOrder cases in tests: a filled file, and each path up to a given state."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete
from sqlalchemy import update as update_rows
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from demo.samples import trade_order_sections
from registry.db import session_scope
from registry.models import Goods, VeteranCarTariff
from registry.refdata import load_refdata
from tests.helpers import actor, new_national_id, server_now, start, update


class TradeCase:
    """One TradeOrder case and its applicant."""

    def __init__(self, handle: WorkflowHandle, national_id: str) -> None:
        self.handle = handle
        self.national_id = national_id
        self.me = actor("applicant", national_id)

    async def send(self, name: str, /, **fields: Any) -> dict[str, Any]:
        return await update(self.handle, name, actor=self.me, **fields)

    async def status(self) -> dict[str, Any]:
        return await self.handle.query("status")


async def open_file(client: Client, worker: Worker) -> TradeCase:
    nid = new_national_id()
    handle = await start(
        client, worker, "TradeOrder", {"applicant": {"national_id": nid, "full_name": "علی رضایی"}}, "trade-order"
    )
    return TradeCase(handle, nid)


async def filled_file(
    client: Client, worker: Worker, *, overrides: dict[str, dict[str, Any]] | None = None, **sample: Any
) -> TradeCase:
    """A Draft with every section filled (valid against the shipped reference data)."""
    case = await open_file(client, worker)
    for name, fields in trade_order_sections((await server_now()).date(), **sample).items():
        await case.send(name, **{**fields, **(overrides or {}).get(name, {})})
    return case


async def submitted(client: Client, worker: Worker, **kwargs: Any) -> TradeCase:
    case = await filled_file(client, worker, **kwargs)
    await case.send("submit")
    return case


async def awaiting_fee(client: Client, worker: Worker, **kwargs: Any) -> tuple[TradeCase, dict[str, Any]]:
    """A file through inquiry and every permit, waiting for its fee."""
    case = await submitted(client, worker, **kwargs)
    status = await case.send("inquire_rules")
    if status["state"] == "Inquired":
        status = await case.send("request_permits")
        for org in list(status["permits"]):
            status = await update(case.handle, "decide_permit", actor=actor("licensing_org", org), approve=True)
    status = await case.send("request_registration")
    if status["state"] == "ExpertReview":
        status = await update(case.handle, "expert_decide", actor=actor("expert", "expert-7"), approve=True)
    assert status["state"] == "AwaitingFee", status
    return case, status


def fresh_goods(*, has_agency: bool = True, permits: list[str] | None = None) -> tuple[str, str]:
    """A tariff and a goods id of their own in the reference data (no other test sees them)."""
    suffix = uuid.uuid4().hex[:6]
    tariff, goods = f"9{int(suffix, 16) % 10_000_000:07d}", f"G-T-{suffix}"
    load_refdata(
        {
            "veteran_car_tariffs": [
                {"code": tariff, "permits": permits or [], "priority_group": 25, "currency_sources": ["own_currency"]}
            ],
            "goods": [{"goods_id": goods, "tariff_code": tariff, "has_agency": has_agency}],
        }
    )
    return tariff, goods


def withdraw_from_reference_data(tariff: str, goods: str) -> None:
    """The tariff leaves the veterans'-car list and the goods lose their agency (after a file named them)."""
    with session_scope() as session:
        session.execute(delete(VeteranCarTariff).where(VeteranCarTariff.code == tariff))
        session.execute(update_rows(Goods).where(Goods.goods_id == goods).values(has_agency=False))
