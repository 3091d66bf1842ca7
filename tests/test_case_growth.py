"""What a case accumulates is bounded: goods lines, documents (policy.MAX_GOODS_LINES, MAX_DOCUMENTS).

Continue-as-new keeps a run's history small, but a case's own data travels in every status and
every continued run: a command that would add past the bound is refused by its validator.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from demo.samples import trade_order_sections
from domain import policy
from tests.helpers import actor, rejected, server_now, sha, start, update
from tests.plate_support import numbering_input, settled
from tests.trade_order_support import open_file


async def test_a_file_takes_at_most_the_bounded_goods_lines_and_documents(client: Client, worker: Worker) -> None:
    case = await open_file(client, worker)
    goods = trade_order_sections((await server_now()).date())["add_goods"]
    for _ in range(policy.MAX_GOODS_LINES):
        await case.send("add_goods", **goods)
    assert "the most one file takes" in await rejected(case.handle, "add_goods", actor=case.me, **goods)
    for n in range(policy.MAX_DOCUMENTS):
        document = {"kind": "other", "name": f"doc-{n}.pdf", "sha256": sha(f"doc-{n}")}
        await case.send("attach_document", **document)
    message = await rejected(case.handle, "attach_document", actor=case.me, kind="other", name="one-more.pdf", sha256=sha("x"))
    assert "the most one file takes" in message
    status = await case.status()
    assert (len(status["goods"]), len(status["documents"])) == (policy.MAX_GOODS_LINES, policy.MAX_DOCUMENTS)


async def test_a_plate_case_takes_at_most_the_bounded_documents(client: Client, worker: Worker) -> None:
    data = numbering_input(year=(await server_now()).year)
    handle = await start(client, worker, "VehicleNumbering", data, "growth")
    owner = actor("applicant", data["owner"]["national_id"])
    kind = next(iter((await settled(handle))["checklist"]))
    for n in range(policy.MAX_DOCUMENTS):
        await update(handle, "submit_document", actor=owner, kind=kind, reference=f"doc-{n}")
    assert "the most one case takes" in await rejected(handle, "submit_document", actor=owner, kind=kind, reference="one-more")
