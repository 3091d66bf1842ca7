"""Trust: every command of every workflow type is refused unless its token proves who gives it.

For each workflow type a case is opened, then every update is sent with each kind of bad token;
each is refused by the validator, saying which claim failed, and the case's history gains no
``UpdateAccepted`` event. Starts are checked the same way: a bad token or input refuses the case,
writes nothing to the registry, and ``status`` answers ``Refused``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import select
from temporalio import workflow as temporal_workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.worker import Worker

from lifecycles import (
    domestic_order,
    import_offering,
    import_purchase,
    import_scheme,
    plate_services,
    plates,
    trade_order,
    trade_order_amendment,
)
from lifecycles.fuel_card import UPDATE_ROLES as FUEL_CARD_UPDATE_ROLES
from registry.db import session_scope
from registry.models import AuditEntry, CaseClaim
from security.tokens import START
from tests.helpers import actor, new_national_id, rejected, server_now, start, update
from tests.plate_support import numbering_input, seed_vehicle, settled
from tests.test_domestic_order import OPERATOR as DOMESTIC_OPERATOR
from tests.test_domestic_order import new_order, new_scheme
from tests.test_import_purchase_support import IMPORTER, Round, close_round, open_round, purchase_input, register, wait_state
from tests.test_import_purchase_support import OPERATOR as SCHEME_OPERATOR
from tests.trust_material import SIGNING_KEY, UNTRUSTED_KEY
from workflows.domestic_order import DomesticOrderWorkflow, DomesticSchemeWorkflow
from workflows.fuel_card import FuelCardWorkflow
from workflows.import_offering import ImportOfferingWorkflow
from workflows.import_purchase import ImportPurchaseWorkflow
from workflows.import_scheme import ImportSchemeWorkflow
from workflows.plate_services import PlateServiceWorkflow
from workflows.plate_transfer import PlateTransferWorkflow, VehicleNumberingWorkflow
from workflows.trade_order import TradeOrderWorkflow
from workflows.trade_order_amendment import TradeOrderAmendmentWorkflow

NAMESPACE = "default"


async def mint(
    handle: WorkflowHandle, role: str, sub: str, update_name: str | None, *, key: Any = SIGNING_KEY, **overrides: Any
) -> str:
    claims: dict[str, Any] = dict(
        role=role, sub=sub, workflow_id=handle.id, namespace=NAMESPACE, update=update_name, now=await server_now()
    )
    claims.update(overrides)
    return key.mint(**claims)


async def refused(handle: WorkflowHandle, name: str, payload: dict[str, Any]) -> str:
    """``payload`` as sent, refused with the case's state and history unchanged (:func:`rejected`)."""
    return await rejected(handle, name, **payload)


def accepted_updates(events: list[Any]) -> list[Any]:
    return [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]


def update_names(cls: type) -> set[str]:
    return set(temporal_workflow._Definition.must_from_class(cls).updates)


# --- every update of every workflow type, with every kind of bad token ---

BAD_TOKENS: dict[str, tuple[Callable[..., Any], str]] = {
    # name: (how to make the token for (handle, role, sub, update, start_jti), what the refusal says)
    "missing": (lambda h, r, s, u, j: _const(None), "actor_token is missing"),
    "untrusted key": (lambda h, r, s, u, j: mint(h, r, s, u, key=UNTRUSTED_KEY), "signature does not verify"),
    "expired": (lambda h, r, s, u, j: _expired(h, r, s, u), "has expired"),
    "another workflow": (lambda h, r, s, u, j: mint(h, r, s, u, workflow_id=f"other-{uuid.uuid4()}"), "another workflow"),
    "another update": (lambda h, r, s, u, j: mint(h, r, s, "something_else"), "another command"),
    "another namespace": (lambda h, r, s, u, j: mint(h, r, s, u, namespace="elsewhere"), "another namespace"),
    "reused jti": (lambda h, r, s, u, j: mint(h, r, s, u, jti=j), "already used"),
    "not a JWT": (lambda h, r, s, u, j: _const("not.a.jwt"), "actor_token"),
    "too long": (lambda h, r, s, u, j: _const("x" * 5000), "longer than"),
}


async def _const(value: str | None) -> str | None:
    return value


async def _expired(handle: WorkflowHandle, role: str, sub: str, update_name: str) -> str:
    now = await server_now()
    return await mint(handle, role, sub, update_name, now=now - timedelta(minutes=20), lifetime=timedelta(minutes=10))


async def open_cases(
    client: Client, worker: Worker
) -> dict[type, tuple[WorkflowHandle, dict[str, frozenset[str]], dict[str, str]]]:
    """One open case of every workflow type: (handle, who may give each update, who started it)."""
    from tests.trade_order_support import awaiting_fee

    cases: dict[type, tuple[WorkflowHandle, dict[str, frozenset[str]], dict[str, str]]] = {}
    nid = new_national_id()
    handle = await start(client, worker, "TradeOrder", {"applicant": {"national_id": nid, "full_name": "آزمون"}}, "trust-to")
    cases[TradeOrderWorkflow] = (handle, trade_order.UPDATE_ROLES, actor("applicant", nid))

    order, status = await awaiting_fee(client, worker)
    await update(
        order.handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref=f"T-{order.handle.id}", amount_rial=status["fee_rial"]
    )
    handle = await start(
        client, worker, "TradeOrderAmendment", {"order_workflow_id": order.handle.id, "kind": "renewal"}, "trust-am", by=order.me
    )
    cases[TradeOrderAmendmentWorkflow] = (handle, trade_order_amendment.UPDATE_ROLES, order.me)

    nid = new_national_id()
    # In a round open now: the session's server clock may be past the default scheme's window.
    fresh = await open_round(client, worker)
    handle = await start(client, worker, "ImportPurchase", purchase_input(nid, scheme_id=fresh.scheme_id), "trust-ip")
    cases[ImportPurchaseWorkflow] = (handle, import_purchase.UPDATE_ROLES, actor("applicant", nid))
    cases[ImportSchemeWorkflow] = (fresh.scheme, import_scheme.UPDATE_ROLES, SCHEME_OPERATOR)

    stage, scheme_id = await new_scheme(client, worker)
    cases[DomesticSchemeWorkflow] = (stage, domestic_order.SCHEME_UPDATE_ROLES, DOMESTIC_OPERATOR)
    handle, nid, _ = await new_order(client, worker, scheme_id)
    cases[DomesticOrderWorkflow] = (handle, domestic_order.UPDATE_ROLES, actor("applicant", nid))

    numbering = numbering_input(year=(await server_now()).year)
    handle = await start(client, worker, "VehicleNumbering", numbering, "trust-vn")
    cases[VehicleNumberingWorkflow] = (handle, plates.NUMBERING_UPDATE_ROLES, actor("owner", numbering["owner"]["national_id"]))

    vin, seller, _ = seed_vehicle()
    transfer = {"vin": vin, "seller": {"national_id": seller}, "buyer": {"national_id": new_national_id(), "full_name": "آزمون"}}
    handle = await start(client, worker, "PlateTransfer", transfer, "trust-pt")
    cases[PlateTransferWorkflow] = (handle, plates.TRANSFER_UPDATE_ROLES, actor("seller", seller))

    vin, owner, _ = seed_vehicle()
    service = {"service": "scrapping", "vin": vin, "owner": {"national_id": owner, "full_name": "آزمون"}}
    handle = await start(client, worker, "PlateService", service, "trust-ps")
    cases[PlateServiceWorkflow] = (handle, plate_services.UPDATE_ROLES, actor("owner", owner))

    # FuelCard (issue 12): a new card's request at a post office.
    vin, owner, plate = seed_vehicle()
    post_office = actor("post_office", "post-office-1")
    request = {
        "vin": vin,
        "plate": plate,
        "kind": "new",
        "channel": "post_office",
        "applicant": {"national_id": owner, "full_name": "آزمون"},
        "delivery": {"method": "collect"},
    }
    handle = await start(client, worker, "FuelCard", request, "trust-fc", by=post_office)
    await settled(handle)  # its registry check done: the refusals below leave its state as it is
    cases[FuelCardWorkflow] = (handle, FUEL_CARD_UPDATE_ROLES, post_office)

    # ImportOffering (issue 10): an importer's proposal to a drawn round, awaiting approval.
    from tests.test_import_offering import proposal, propose, ranked_round

    [(ranked, _, _)] = await ranked_round(client, worker, 1)
    drawn = Round(
        (await ranked.query("status"))["scheme_id"], ranked, *[await server_now() + timedelta(hours=h) for h in (1, 2)], True
    )
    importer = actor("importer", IMPORTER)
    handle = await propose(client, worker, proposal(drawn, drawn.opens, drawn.closes), by=importer)
    await wait_state(handle, "Proposed")
    cases[ImportOfferingWorkflow] = (handle, import_offering.UPDATE_ROLES, importer)
    return cases


async def start_jti(handle: WorkflowHandle) -> str:
    """The jti of the token that started the case (read back from the start's input)."""
    from security.tokens import claims_of

    history = await handle.fetch_history()
    first = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    start_input = (await handle._client.data_converter.decode([first]))[0]
    return claims_of(start_input["actor_token"]).jti


async def test_every_update_of_every_workflow_refuses_bad_tokens(client: Client, worker: Worker) -> None:
    from worker import WORKFLOWS

    cases = await open_cases(client, worker)
    commanded = {cls for cls in WORKFLOWS if update_names(cls)}  # the scheduled batches take no commands
    assert commanded == set(cases), f"no open case to try: {sorted(c.__name__ for c in commanded - set(cases))}"
    for cls, (handle, roles, starter) in cases.items():
        assert set(roles) == update_names(cls), f"{cls.__name__}: every update has its roles"
        if cls in (VehicleNumberingWorkflow, PlateTransferWorkflow, PlateServiceWorkflow):
            await settled(handle)
        jti = await start_jti(handle)
        before = len(accepted_updates((await handle.fetch_history()).events))
        for name, allowed in roles.items():
            role = sorted(allowed)[0]
            sub = starter["id"] if role == starter["role"] else f"{role}-1"
            for defect, (make, says) in BAD_TOKENS.items():
                token = await make(handle, role, sub, name, jti)
                payload: dict[str, Any] = {} if token is None else {"actor_token": token}
                message = await refused(handle, name, payload)
                assert says in message, f"{cls.__name__}.{name} with {defect}: {message}"
            # A valid token of a role that may not give the command.
            wrong = sorted({"applicant", "bank", "officer", "operator", "expert"} - allowed)[0]
            message = await refused(handle, name, {"actor_token": await mint(handle, wrong, f"{wrong}-9", name)})
            assert f"role {wrong!r} may not" in message, f"{cls.__name__}.{name}: {message}"
            # An "actor" object that is not the token's proves nothing.
            token = await mint(handle, role, sub, name)
            await refused(handle, name, {"actor_token": token, "actor": actor(role, "someone-else")})
        events = (await handle.fetch_history()).events
        assert len(accepted_updates(events)) == before, f"{cls.__name__}: a refused command reached history"
        assert (await handle.query("status"))["state"] not in ("Refused",)


async def test_a_valid_token_is_accepted_and_its_subject_and_jti_recorded(client: Client, worker: Worker) -> None:
    nid = new_national_id()
    handle = await start(client, worker, "TradeOrder", {"applicant": {"national_id": nid, "full_name": "آزمون"}}, "trust-ok")
    token = await mint(handle, "applicant", nid, "save_transport")
    status = await handle.execute_update("save_transport", {"actor_token": token, "fleet": "road"})
    from security.tokens import claims_of

    jti = claims_of(token).jti
    assert status["events"][-1]["actor"] == {"role": "applicant", "id": nid, "jti": jti}
    # The same token again: refused, the case unchanged.
    assert "already used" in await refused(handle, "save_transport", {"actor_token": token, "fleet": "sea"})
    # Without upd, a token may give any one command; still only once.
    loose = await mint(handle, "applicant", nid, None)
    await handle.execute_update("save_transport", {"actor_token": loose, "fleet": "rail"})
    assert "already used" in await refused(handle, "save_main_info", {"actor_token": loose})
    # An "actor" object other than the token's is refused, saying so.
    token = await mint(handle, "applicant", nid, "save_transport")
    message = await refused(
        handle, "save_transport", {"actor_token": token, "actor": actor("applicant", new_national_id()), "fleet": "x"}
    )
    assert "does not match the token" in message
    # The audit rows of a draft's edits wait for the case's next activity or its end: end it.
    await handle.execute_update("abort", {"actor_token": await mint(handle, "operator", "op-1", "abort"), "reason": "test"})
    await handle.result()
    with session_scope() as session:
        transitions = select(AuditEntry).where(AuditEntry.workflow_id == handle.id, AuditEntry.seq > 0)
        rows = session.scalars(transitions.order_by(AuditEntry.seq)).all()
    assert [(r.actor_role, r.actor_id, r.actor_jti) for r in rows[:1]] == [("applicant", nid, jti)]
    assert [r.event for r in rows] == ["save_transport", "save_transport", "abort"]


async def test_a_bad_token_never_fails_the_workflow_task(client: Client, worker: Worker) -> None:
    """A flood of garbage is refused one by one; the case goes on and takes a good command."""
    nid = new_national_id()
    handle = await start(client, worker, "TradeOrder", {"applicant": {"national_id": nid, "full_name": "آزمون"}}, "trust-flood")
    garbage: list[Any] = ["", "a.b.c", "e30.e30.", "ey" * 100, 12, None, ["x"], {"alg": "none"}]
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."  # alg "none"
    for token in [*garbage, unsigned]:
        await refused(handle, "save_transport", {"actor_token": token, "fleet": "x"})
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("save_transport", ["not", "an", "object"])
    status = await update(handle, "save_transport", actor=actor("applicant", nid), fleet="road")
    assert status["state"] == "Draft" and status["transport"]["fleet"] == "road"
    events = (await handle.fetch_history()).events
    assert not [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]


# --- starts ---


@pytest.mark.parametrize(
    "case, kind, says",
    [
        ("missing token", "Unauthenticated", "actor_token is missing"),
        ("untrusted key", "Unauthenticated", "signature does not verify"),
        ("token for another workflow", "Unauthenticated", "another workflow"),
        ("token for an update", "Unauthenticated", "another command"),
        ("someone else's national id", "Unauthenticated", "not the applicant named in the input"),
        ("a role that may not start", "Unauthenticated", "role 'bank' may not start"),
        ("invalid input", "InvalidInput", "check digit"),
    ],
)
async def test_a_bad_start_is_refused_and_writes_nothing(client: Client, worker: Worker, case: str, kind: str, says: str) -> None:
    nid = new_national_id()
    body = {"applicant": {"national_id": nid, "full_name": "آزمون"}}
    workflow_id = f"trust-start-{uuid.uuid4()}"
    now = await server_now()

    def token(**changes: Any) -> str:
        claims: dict[str, Any] = dict(
            role="applicant", sub=nid, workflow_id=workflow_id, namespace=NAMESPACE, update=START, now=now
        )
        claims.update(changes)
        key = claims.pop("key", SIGNING_KEY)
        return key.mint(**claims)

    payload: dict[str, Any] = {
        "missing token": body,
        "untrusted key": {**body, "actor_token": token(key=UNTRUSTED_KEY)},
        "token for another workflow": {**body, "actor_token": token(workflow_id="another")},
        "token for an update": {**body, "actor_token": token(update="submit")},
        "someone else's national id": {**body, "actor_token": token(sub=new_national_id())},
        "a role that may not start": {**body, "actor_token": token(role="bank", sub="mellat")},
        "invalid input": {"applicant": {"national_id": "1234567890", "full_name": "x"}, "actor_token": token(sub="1234567890")},
    }[case]
    handle = await client.start_workflow("TradeOrder", payload, id=workflow_id, task_queue=worker.task_queue)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    cause = info.value.cause
    assert getattr(cause, "type", None) == kind and says in cause.message, cause
    status = await handle.query("status")
    assert status["state"] == "Refused" and says in status["reason"] and status["allowed"] == []
    assert (await handle.describe()).search_attributes["CaseState"] == ["Refused"]
    with session_scope() as session:
        assert session.get(CaseClaim, workflow_id) is None
        assert session.scalar(select(AuditEntry).where(AuditEntry.workflow_id == workflow_id)) is None


# --- personal data never in clear ---


def payloads_of(message: Message, skip: frozenset[str] = frozenset({"search_attributes"})) -> list[Payload]:
    """Every Payload inside a history event (search attributes aside: they hold no personal data)."""
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.name in skip:
            continue
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = [value] if isinstance(value, Message) else list(value)
        for item in items:
            if isinstance(item, Payload):
                found.append(item)
            elif isinstance(item, Message):
                found += payloads_of(item, skip)
    return found


async def test_history_holds_no_personal_data_in_clear(client: Client, worker: Worker) -> None:
    nid, name, account = new_national_id(), "مریم احمدی", f"ACC-{uuid.uuid4().hex[:8]}"
    round = await open_round(client, worker)  # the case becomes Eligible through its scheme's round
    handle, _ = await register(client, worker, round, nid, applicant={"full_name": name}, deposit={"account": account})
    await close_round(round)
    await update(handle, "request_withdrawal_code", actor=actor("applicant", nid))
    history = await handle.fetch_history()
    secrets = [nid.encode(), name.encode(), account.encode(), name.encode("unicode_escape")]
    # Markers carry the SDK core's own book-keeping beside the data (a patch id; a local activity's
    # attempt and times, were one used), written without the codec: it is checked to hold no secret,
    # and a marker's "result" must be encrypted like every other payload.
    markers = [e.marker_recorded_event_attributes for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert {m.marker_name for m in markers} >= {"core_patch"}
    core_own = [p for m in markers for key, value in m.details.items() if key != "result" for p in value.payloads]
    assert not any(s in p.data for p in core_own for s in secrets)
    payloads = [p for e in history.events if not e.HasField("marker_recorded_event_attributes") for p in payloads_of(e)]
    payloads += [p for m in markers if "result" in m.details for p in m.details["result"].payloads]
    assert len(payloads) > 10
    for payload in payloads:
        assert payload.metadata.get("encoding") == b"binary/encrypted", (payload.metadata, payload.data)
        assert not any(s in payload.data for s in secrets)
    raw = history.to_json()
    assert nid not in raw and account not in raw and name not in raw
    assert handle.id.find(nid) < 0
    # Decoded with the key, the same history is the case's own data.
    assert (
        await client.data_converter.decode([history.events[0].workflow_execution_started_event_attributes.input.payloads[0]])
    )[0]["applicant"]["national_id"] == nid


async def test_a_refused_starts_token_cannot_open_the_id_again(client: Client, worker: Worker) -> None:
    """A start token opens one run, ever: replaying a refused start's token with other input fails."""
    nid = new_national_id()
    workflow_id = f"trust-replay-{uuid.uuid4()}"
    token = SIGNING_KEY.mint(
        role="applicant", sub=nid, workflow_id=workflow_id, namespace=NAMESPACE, update=START, now=await server_now()
    )
    bad = {"applicant": {"national_id": nid, "full_name": "x", "unknown": 1}, "actor_token": token}
    first = await client.start_workflow("TradeOrder", bad, id=workflow_id, task_queue=worker.task_queue)
    with pytest.raises(WorkflowFailureError):
        await first.result()
    assert (await first.query("status"))["state"] == "Refused"

    chosen = {"applicant": {"national_id": nid, "full_name": "ATTACKER CHOSEN NAME"}, "actor_token": token}
    again = await client.start_workflow("TradeOrder", chosen, id=workflow_id, task_queue=worker.task_queue)
    with pytest.raises(WorkflowFailureError) as info:
        await again.result()
    assert "already used to start a case" in info.value.cause.message
    with session_scope() as session:
        assert session.get(CaseClaim, workflow_id) is None


async def test_a_token_bound_to_a_workflow_type_starts_only_that_type(client: Client, worker: Worker) -> None:
    nid = new_national_id()
    workflow_id = f"trust-wft-{uuid.uuid4()}"
    token = SIGNING_KEY.mint(
        role="applicant",
        sub=nid,
        workflow_id=workflow_id,
        namespace=NAMESPACE,
        update=START,
        now=await server_now(),
        wft="TradeOrder",
    )
    purchase = {**purchase_input(nid, deposit={"account": "ATTACKER-ACCOUNT"}), "actor_token": token}
    handle = await client.start_workflow("ImportPurchase", purchase, id=workflow_id, task_queue=worker.task_queue)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert "another workflow type" in info.value.cause.message


async def test_a_stranger_learns_nothing_of_a_case(client: Client, worker: Worker) -> None:
    """The subject is checked right after the role: another person or bank is refused before the
    case's state, allowed commands or recorded payments could show in the refusal."""
    nid = new_national_id()
    handle = await start(client, worker, "TradeOrder", {"applicant": {"national_id": nid, "full_name": "x"}}, "trust-nosy")
    message = await refused(handle, "pay_fee", {"actor_token": await mint(handle, "applicant", new_national_id(), "pay_fee")})
    assert "role 'applicant' may not" in message
    message = await refused(handle, "submit", {"actor_token": await mint(handle, "applicant", new_national_id(), "submit")})
    assert message == "submit: only the file's owner (or a user given access to it that allows this) may do this"


async def test_oversized_input_is_refused_with_the_reason(client: Client, worker: Worker) -> None:
    """A 100 kB string or a 40-digit amount never reaches a column: the validator says which field."""
    nid = new_national_id()
    handle = await start(client, worker, "TradeOrder", {"applicant": {"national_id": nid, "full_name": "x"}}, "trust-big")
    message = await rejected(handle, "save_main_info", actor=actor("applicant", nid), proforma_number="x" * 100_000)
    assert "proforma_number" in message and "at most 64 characters" in message
    message = await rejected(handle, "pay_fee", actor=actor("bank", "mellat"), payment_ref="BIG-1", amount_rial=10**40)
    assert "amount_rial" in message and "less than or equal to 1000000000000000" in message
    purchase = purchase_input(new_national_id(), deposit={"amount_rial": 10**40})
    refused_start = await start(client, worker, "ImportPurchase", purchase, "trust-big")
    with pytest.raises(WorkflowFailureError) as info:
        await refused_start.result()
    assert info.value.cause.type == "InvalidInput" and "deposit.amount_rial" in info.value.cause.message
