"""The ``FuelCard`` case (seed 002, issue 12): a fuel card's request, issue and delivery, on the
time-skipping server and the session's database (SQLite, or PostgreSQL with ``--db postgres``).

Each path to its end, the follow-up and the operator alert on their day (±1 s), the refusals
(worn-out by seed 002's table at its boundary year, a motorcycle at 10 years, USSD by someone not
holding the SIM → Police+10, an old-plate car's duplicate, a second open request for one VIN refused
by the database), a duplicate zeroing the old card's balance, and the PIN's rules.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import fuel_cards as fuel
from domain import policy
from domain.calendar import add_months_at, tehran_today
from domain.display import TEHRAN, jalali_date, parse_instant
from lifecycles import fuel_card as rules
from registry.db import session_scope
from registry.fuel_models import FuelBalance, FuelCardPin, FuelCardRequest
from registry.models import FuelCard, OutboxMessage, Person, PlateRecord, Vehicle
from tests.helpers import SIGNER, actor, new_national_id, rejected, server_now, start, update
from tests.plate_support import new_vin
from tests.recorded import replays_now
from workflows.fuel_card import FuelCardWorkflow

POST_OFFICE = actor("post_office", "post-office-1")
POLICE10 = actor("police10", "police10-office-1")
FUEL_OFFICE = actor("fuel_office", "fuel-office-tehran")
BANK = actor("bank", "bank-melli")


# --- the registry's facts ---


async def this_year() -> int:
    return tehran_today(await server_now()).year


def vehicle(
    *,
    kind: str = "passenger_car",
    age: int | None = 3,
    year: int,
    fuel_kind: str = "petrol",
    plated: bool = True,
    card_litres: int | None = None,
) -> tuple[str, str, str, str | None]:
    """A vehicle in the registry: (vin, owner, plate, its active card or None)."""
    vin, owner = new_vin(), new_national_id()
    plate = f"{10 + int(vin[-2:], 16) % 90}ل{100 + int(vin[-5:-2], 16) % 900}-{20 + int(vin[-6], 16)}"
    card = None
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(Person(national_id=owner, full_name="مالک آزمایشی"))
        session.add(
            Vehicle(
                vin=vin,
                owner_national_id=owner,
                kind=kind,
                production_year=None if age is None else year - age,
                fuel=fuel_kind,
                plate=plate,
            )
        )
        if plated:
            session.add(
                PlateRecord(
                    plate=plate,
                    vin=vin,
                    owner_national_id=owner,
                    category="imported",
                    active=True,
                    issued_at=now,
                    workflow_id=f"seed-{vin}",
                )
            )
    if card_litres is not None:
        card = f"9{uuid.uuid4().int % 10**15:015d}"
        fuel.issue_card(card, vin, owner, "private_petrol", now)
        with session_scope() as session:
            balance = session.get(FuelBalance, card)
            assert balance is not None
            balance.quota_ml = card_litres * 1000
    return vin, owner, plate, card


def request_input(
    vin: str,
    owner: str,
    plate: str,
    *,
    kind: str = "new",
    channel: str = "post_office",
    delivery: str = "post",
    reason: str | None = None,
    sim_owner: str | None = None,
) -> dict[str, Any]:
    applicant: dict[str, Any] = {"national_id": owner, "full_name": "مالک آزمایشی"}
    if sim_owner is not None:
        applicant["sim_owner_national_id"] = sim_owner
    out: dict[str, Any] = {
        "vin": vin,
        "plate": plate,
        "kind": kind,
        "channel": channel,
        "applicant": applicant,
        "delivery": {"method": "post", "address": "تهران، خیابان آزادی، پلاک ۱۰", "postcode": "1234567890"}
        if delivery == "post"
        else {"method": "collect"},
    }
    if reason is not None:
        out["reason"] = reason
    return out


async def request(client: Client, worker: Worker, input: dict[str, Any], by: dict[str, str] = POST_OFFICE) -> WorkflowHandle:
    return await start(client, worker, "FuelCard", input, "fuel-card", by=by)


async def settled(handle: WorkflowHandle) -> dict[str, Any]:
    """The status once the start's registry check has run (the case left ``Requested``)."""
    for _ in range(400):
        status = await handle.query("status")
        if status["state"] != "Requested":
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the request's registry check never ended")


async def eventually(handle: WorkflowHandle, field: str) -> dict[str, Any]:
    for _ in range(400):
        status = await handle.query("status")
        if status[field]:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{field} never became true")


def new_card_number() -> str:
    return f"7{uuid.uuid4().int % 10**15:015d}"


def outbox(workflow_id: str) -> list[OutboxMessage]:
    with session_scope() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.workflow_id == workflow_id)))


# --- pure rules ---


def test_deadlines_are_tehran_calendar_days_and_a_duplicates_alert_two_jalali_months() -> None:
    at = datetime(2025, 3, 20, 20, 45, tzinfo=UTC)  # 00:15 on 1 Farvardin 1404 in Tehran
    assert rules.follow_up_at("new", at) == at + timedelta(days=20)
    assert rules.alert_at("new", at) == at + timedelta(days=60)
    assert rules.follow_up_at("duplicate", at) == at + timedelta(days=45)
    assert rules.alert_at("duplicate", at) == add_months_at(at, 2) == datetime(2025, 5, 21, 20, 45, tzinfo=UTC)  # 1 Khordad


def test_worn_out_by_seed_002s_table_at_its_boundary_years() -> None:
    assert rules.worn_out_reason("passenger_car", 2000, 2024) is None  # 24 years
    assert "25" in (rules.worn_out_reason("passenger_car", 1999, 2024) or "")  # 25 years: worn out
    assert rules.worn_out_reason("government_car", 2010, 2024) is None
    assert rules.worn_out_reason("government_car", 2009, 2024) is not None  # «سواری دولتی با عمر ۱۵ سال»
    assert rules.worn_out_reason("taxi", 2015, 2024) is None and rules.worn_out_reason("taxi", 2014, 2024) is not None
    assert rules.worn_out_reason("motorcycle", 2015, 2024) is None  # 9 years
    assert "motorcycle" in (rules.worn_out_reason("motorcycle", 2014, 2024) or "")  # 10 years
    assert rules.worn_out_reason("motorcycle", 2013, 2024) is not None  # 11 years
    assert rules.worn_out_reason("light_truck", 2000, 2024) is None and rules.worn_out_reason("light_truck", 1999, 2024)


def test_channels_and_delivery_in_the_input() -> None:
    vin, nid = new_vin(), new_national_id()
    base = request_input(vin, nid, "12ل345-67")
    rules.FuelCardStart.model_validate(base)
    for bad in (
        {**base, "channel": "ussd"},  # a new card is not asked by USSD (and USSD needs the SIM inquiry)
        {**base, "kind": "duplicate"},  # no reason
        {**base, "kind": "duplicate", "reason": "lost", "channel": "post_office"},
        {**base, "delivery": {"method": "post", "address": "تهران", "postcode": "12345"}},  # 10 digits
        {**base, "delivery": {"method": "post"}},
        {**base, "kind": "duplicate", "reason": "lost", "channel": "ussd", "applicant": {"national_id": nid, "full_name": "x"}},
    ):
        with pytest.raises(ValueError):
            rules.FuelCardStart.model_validate(bad)
    entity = {"entity_id": "10101234567", "name": "شرکت آزمایشی", "letter_number": "ن/۱۲۳", "letter_date": "2025-01-01"}
    rules.FuelCardStart.model_validate({**base, "legal_entity": entity})
    with pytest.raises(ValueError):
        rules.FuelCardStart.model_validate(
            {
                **base,
                "kind": "duplicate",
                "reason": "lost",
                "channel": "app",
                "legal_entity": entity,
                "applicant": {**base["applicant"], "sim_owner_national_id": nid},
            }
        )


# --- the case ---


async def test_a_new_card_by_post_is_issued_dispatched_and_delivered(client: Client, worker: Worker) -> None:
    vin, owner, plate, _ = vehicle(year=await this_year())
    handle = await request(client, worker, request_input(vin, owner, plate))
    status = await settled(handle)
    assert status["state"] == "Issuing" and status["use"] == "private_petrol"
    requested_at = parse_instant(status["requested_at"])
    assert requested_at is not None
    assert status["postage_rial"] == policy.FUEL_CARD_POSTAGE_RIAL
    assert "not allowed" in await rejected(handle, "dispatch", actor=POST_OFFICE, tracking_number="P1")
    assert "role 'post_office' may not" in await rejected(handle, "issued", actor=POST_OFFICE, card_number=new_card_number())
    card = new_card_number()
    status = await update(handle, "issued", actor=FUEL_OFFICE, card_number=card)
    assert (status["state"], status["card_number"]) == ("Issued", card)
    # Postage first: the post office dispatches only a paid parcel.
    assert "dispatch: not allowed" in await rejected(handle, "dispatch", actor=POST_OFFICE, tracking_number="P1")
    assert "amount_rial must equal" in await rejected(
        handle, "pay_postage", actor=BANK, payment_ref=f"PST-{uuid.uuid4().hex[:10]}", amount_rial=1
    )
    await update(
        handle, "pay_postage", actor=BANK, payment_ref=f"PST-{uuid.uuid4().hex[:10]}", amount_rial=policy.FUEL_CARD_POSTAGE_RIAL
    )
    status = await update(handle, "dispatch", actor=POST_OFFICE, tracking_number="PARCEL-0001")
    assert (status["state"], status["tracking_number"]) == ("Dispatched", "PARCEL-0001")
    assert fuel.track(plate=plate)["tracking_number"] == "PARCEL-0001"  # type: ignore[index]
    status = await update(handle, "deliver", actor=POST_OFFICE)
    assert status["state"] == "Delivered"
    final = await handle.result()
    assert final["state"] == "Delivered"
    with session_scope() as session:
        issued = session.get(FuelCard, card)
        assert issued is not None and (issued.vin, issued.status, issued.owner_national_id) == (vin, "active", owner)
        pin = session.get(FuelCardPin, card)
        assert pin is not None and pin.set_by == "issue" and owner[-4:].encode() not in pin.pin_hash
    # The PIN is the last four digits of the owner's national id, kept only as a hash in the registry.
    assert fuel.pin_matches(card, owner[-4:]) and not fuel.pin_matches(card, "0000" if owner[-4:] != "0000" else "1111")
    assert "pin" not in json.dumps(final).lower()
    tracked = fuel.track(vin=vin)
    assert tracked is not None and (tracked["state"], tracked["open"], tracked["card_number"]) == ("Delivered", False, card)
    # starter.py fuel track --plate: the registry's record, dates in the Jalali calendar.
    from typer.testing import CliRunner

    from cli.fuel import app as fuel_cli

    printed = CliRunner().invoke(fuel_cli, ["track", "--plate", plate])
    assert printed.exit_code == 0, printed.output
    shown = json.loads(printed.output)
    assert (shown["workflow_id"], shown["state"], shown["tracking_number"]) == (handle.id, "Delivered", "PARCEL-0001")
    assert shown["requested_on_jalali"] == jalali_date(tehran_today(requested_at))
    assert CliRunner().invoke(fuel_cli, ["track", "--vin", new_vin()]).exit_code == 1
    await replays_now([FuelCardWorkflow], handle)


async def test_a_duplicate_collected_at_the_post_office_zeroes_the_old_cards_balance(client: Client, worker: Worker) -> None:
    vin, owner, plate, old = vehicle(year=await this_year(), card_litres=100)
    assert old is not None
    handle = await request(
        client,
        worker,
        request_input(vin, owner, plate, kind="duplicate", reason="lost", channel="police10", delivery="collect"),
        by=POLICE10,
    )
    assert (await settled(handle))["state"] == "Issuing"
    card = new_card_number()
    status = await update(handle, "issued", actor=FUEL_OFFICE, card_number=card)
    assert status["state"] == "AwaitingCollection"
    assert (status["old_card_number"], status["zeroed_litres"]) == (old, "100")
    with session_scope() as session:
        old_row, old_balance, new_row = session.get(FuelCard, old), session.get(FuelBalance, old), session.get(FuelCard, card)
        assert old_row is not None and old_balance is not None and new_row is not None
        assert (old_row.status, old_balance.quota_ml, new_row.status, new_row.vin) == ("expired", 0, "active", vin)
    assert "identity document" in await rejected(
        handle,
        "collect",
        actor=POST_OFFICE,
        collector_national_id=owner,
        vehicle_documents=["vehicle_card"],
        owner_id_document=False,
    )
    status = await update(
        handle,
        "collect",
        actor=POST_OFFICE,
        collector_national_id=new_national_id(),
        vehicle_documents=["title_deed"],
        owner_id_document=True,
    )
    assert status["state"] == "Collected"
    await replays_now([FuelCardWorkflow], handle)


async def test_the_follow_up_and_the_operator_alert_come_on_their_day(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    vin, owner, plate, _ = vehicle(year=await this_year())
    handle = await request(client, worker, request_input(vin, owner, plate))
    status = await settled(handle)
    requested = parse_instant(status["requested_at"])
    follow_up, alert = parse_instant(status["follow_up_at"]), parse_instant(status["alert_at"])
    assert requested and follow_up and alert
    local = requested.astimezone(TEHRAN)
    assert follow_up.astimezone(TEHRAN) == local.replace(tzinfo=TEHRAN) + timedelta(days=policy.FUEL_CARD_FOLLOW_UP_DAYS["new"])
    assert alert == requested + timedelta(days=policy.FUEL_CARD_ALERT_DAYS)
    await env.sleep(follow_up - timedelta(seconds=1) - await env.get_current_time())
    status = await handle.query("status")
    assert not status["followed_up"] and not [m for m in outbox(handle.id) if m.kind == "sms"]
    await env.sleep(timedelta(seconds=2))
    status = await eventually(handle, "followed_up")
    assert status["history"][-1]["event"] == "follow_up_due" and not status["alerted"]
    for _ in range(100):
        if [m for m in outbox(handle.id) if m.kind == "sms" and m.to == owner]:
            break
        await asyncio.sleep(0.05)
    assert [m.text for m in outbox(handle.id) if m.kind == "sms" and m.to == owner]
    await env.sleep(alert - timedelta(seconds=1) - await env.get_current_time())
    assert not (await handle.query("status"))["alerted"]
    await env.sleep(timedelta(seconds=2))
    status = await eventually(handle, "alerted")
    assert status["history"][-1]["event"] == "operator_alert" and status["state"] == "Issuing"
    for _ in range(100):
        if [m for m in outbox(handle.id) if m.kind == "alert" and m.to == "operator"]:
            break
        await asyncio.sleep(0.05)
    assert [m for m in outbox(handle.id) if m.kind == "alert" and m.to == "operator"]
    await update(handle, "abort", actor=actor("operator", "op-1"), reason="آزمایش")
    assert (await handle.result())["state"] == "Aborted"
    tracked = fuel.track(vin=vin)
    assert tracked is not None and (tracked["state"], tracked["open"]) == ("Aborted", False)
    await replays_now([FuelCardWorkflow], handle)


async def test_refusals_by_the_registry(client: Client, worker: Worker) -> None:
    year = await this_year()
    cases: list[tuple[dict[str, Any], dict[str, str], str]] = []
    for kind, age, expect in (
        ("passenger_car", 25, "worn-out"),
        ("motorcycle", 10, "motorcycle 10 years"),
        ("motorcycle", 11, "motorcycle 11 years"),
    ):
        vin, owner, plate, _ = vehicle(kind=kind, age=age, year=year)
        cases.append((request_input(vin, owner, plate), POST_OFFICE, expect))
    # USSD by an owner whose SIM is someone else's: refused, naming Police+10.
    vin, owner, plate, _ = vehicle(year=year, card_litres=0)
    cases.append(
        (
            request_input(vin, owner, plate, kind="duplicate", reason="damaged", channel="ussd", sim_owner=new_national_id()),
            actor("owner", owner),
            "Police+10",
        )
    )
    # An old-plate car (no plate of the national numbering): a duplicate only after a plate change.
    vin, owner, plate, _ = vehicle(year=year, plated=False, card_litres=10)
    cases.append(
        (request_input(vin, owner, plate, kind="duplicate", reason="lost", channel="police10"), POLICE10, "plate change")
    )
    handles = [await request(client, worker, i, by=b) for i, b, _ in cases]
    for handle, (_, _, expect) in zip(handles, cases, strict=True):
        status = await settled(handle)
        assert status["state"] == "Rejected", expect
        reasons = " ".join(status["rejection_reasons"])
        if expect == "worn-out":
            assert "worn out at 25 years" in reasons
        elif expect.startswith("motorcycle"):
            assert "motorcycle" in reasons and "۱۰ سال" in reasons
        else:
            assert expect in reasons, reasons
        assert status["allowed"] == []
    # The boundary's other side: 24 and 9 years get their card; USSD with the owner's own SIM too.
    for kind, age in (("passenger_car", 24), ("motorcycle", 9)):
        vin, owner, plate, _ = vehicle(kind=kind, age=age, year=year)
        assert (await settled(await request(client, worker, request_input(vin, owner, plate))))["state"] == "Issuing"
    vin, owner, plate, _ = vehicle(year=year, card_litres=5)
    own_sim = request_input(vin, owner, plate, kind="duplicate", reason="not_handed_over", channel="ussd", sim_owner=owner)
    assert (await settled(await request(client, worker, own_sim, by=actor("owner", owner))))["state"] == "Issuing"


async def test_a_start_by_the_wrong_actor_is_refused(client: Client, worker: Worker) -> None:
    vin, owner, plate, _ = vehicle(year=await this_year())
    handle = await request(client, worker, request_input(vin, owner, plate), by=actor("owner", owner))
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query("status")
    assert status["state"] == "Refused" and "post_office" in status["reason"]
    assert fuel.track(vin=vin) is None  # nothing recorded


async def test_one_open_request_per_vehicle_is_the_databases_rule(client: Client, worker: Worker) -> None:
    vin, owner, plate, _ = vehicle(year=await this_year())
    first = await request(client, worker, request_input(vin, owner, plate))
    second = await request(client, worker, request_input(vin, owner, plate, channel="police10"), by=POLICE10)
    states = sorted([(await settled(first))["state"], (await settled(second))["state"]])
    assert states == ["Issuing", "Rejected"]
    loser = first if (await first.query("status"))["state"] == "Rejected" else second
    winner = second if loser is first else first
    assert "another fuel card request for this vehicle is open" in " ".join((await loser.query("status"))["rejection_reasons"])
    # The index itself: a second open row for the VIN cannot be written, whoever writes it.
    with pytest.raises(IntegrityError), session_scope() as session:
        now = datetime.now(UTC)
        session.add(
            FuelCardRequest(
                workflow_id=f"raw-{uuid.uuid4()}",
                vin=vin,
                plate=plate,
                kind="new",
                channel="post_office",
                delivery="post",
                state="Issuing",
                open=True,
                requested_at=now,
                updated_at=now,
                reasons=[],
            )
        )
    # Once the open request ends, the vehicle may be asked for again.
    await update(winner, "abort", actor=actor("operator", "op-1"), reason="درخواست تکراری")
    third = await request(client, worker, request_input(vin, owner, plate))
    assert (await settled(third))["state"] == "Issuing"


async def test_pin_changed_at_a_station_and_reset_only_at_a_regional_office(client: Client, worker: Worker) -> None:
    vin, owner, plate, _ = vehicle(year=await this_year())
    handle = await request(client, worker, request_input(vin, owner, plate, delivery="collect"))
    await settled(handle)
    card = new_card_number()
    await update(handle, "issued", actor=FUEL_OFFICE, card_number=card)
    assert fuel.pin_matches(card, owner[-4:])
    at = await server_now()

    async def token(role: str, update_name: str) -> str:
        return await SIGNER.token(role=role, sub=f"{role}-1", workflow_id=fuel.pin_target(card), update=update_name)

    # A station changes it given the current PIN; a wrong current PIN or another role is refused.
    with pytest.raises(fuel.PinRefused, match="current PIN is wrong"):
        fuel.change_pin(
            fuel.PinChange(
                await token("station", "change_pin"),
                card,
                "4321",
                current_pin="9" + owner[-3:] if owner[-4] != "9" else "8" + owner[-3:],
                at=at,
            )
        )
    with pytest.raises(fuel.PinRefused, match="only role 'station'"):
        fuel.change_pin(fuel.PinChange(await token("fuel_office", "change_pin"), card, "4321", current_pin=owner[-4:], at=at))
    with pytest.raises(fuel.PinRefused, match="digits"):
        fuel.change_pin(fuel.PinChange(await token("station", "change_pin"), card, "43a1", current_pin=owner[-4:], at=at))
    used = await token("station", "change_pin")
    fuel.change_pin(fuel.PinChange(used, card, "4321", current_pin=owner[-4:], at=at))
    assert fuel.pin_matches(card, "4321") and (owner[-4:] == "4321" or not fuel.pin_matches(card, owner[-4:]))
    with pytest.raises(fuel.PinRefused, match="already used"):
        fuel.change_pin(fuel.PinChange(used, card, "5555", current_pin="4321", at=at))
    # A forgotten PIN: only a regional office resets it (no current PIN asked); a station may not.
    with pytest.raises(fuel.PinRefused, match="only role 'fuel_office'"):
        fuel.reset_pin(fuel.PinChange(await token("station", "reset_pin"), card, "7777", at=at))
    fuel.reset_pin(fuel.PinChange(await token("fuel_office", "reset_pin"), card, "7777", at=at))
    assert fuel.pin_matches(card, "7777") and not fuel.pin_matches(card, "4321")
    with session_scope() as session:
        row = session.get(FuelCardPin, card)
        assert row is not None and row.set_by == "fuel_office"


# --- numbering starts the request ---


async def test_numbering_starts_the_vehicles_fuel_card_request(client: Client, worker: Worker) -> None:
    from tests.plate_support import numbered
    from workflows.plate_transfer import VehicleNumberingWorkflow

    handle, data, status = await numbered(client, worker, year=await this_year() - 1)
    assert status["state"] == "Numbered"
    assert status["history"][-1]["event"] == "pay_plate_fee"
    child = client.get_workflow_handle(status["fuel_card_case"])
    assert data["owner"]["national_id"] not in child.id and data["owner"]["full_name"] not in child.id
    asked = await settled(child)
    assert (asked["state"], asked["channel"], asked["vin"], asked["plate"]) == (
        "Issuing",
        "numbering",
        data["vin"],
        status["plate"],
    )
    tracked = fuel.track(plate=status["plate"])
    assert tracked is not None and (tracked["workflow_id"], tracked["open"]) == (child.id, True)
    card = new_card_number()
    await update(child, "issued", actor=FUEL_OFFICE, card_number=card)
    await update(
        child,
        "collect",
        actor=POST_OFFICE,
        collector_national_id=data["owner"]["national_id"],
        vehicle_documents=["vehicle_card"],
        owner_id_document=True,
    )
    assert fuel.pin_matches(card, data["owner"]["national_id"][-4:])
    # Nobody but a parent case starts a request through numbering (a client's start is refused).
    vin, owner, plate, _ = vehicle(year=await this_year())
    forged = await request(
        client, worker, request_input(vin, owner, plate, channel="numbering", delivery="collect"), by=POST_OFFICE
    )
    with pytest.raises(WorkflowFailureError):
        await forged.result()
    assert "numbering case only" in (await forged.query("status"))["reason"]
    await replays_now([VehicleNumberingWorkflow, FuelCardWorkflow], handle, child)


async def test_a_legal_entitys_letter_and_a_parcel_the_post_could_not_deliver(client: Client, worker: Worker) -> None:
    vin, _, plate, _ = vehicle(year=await this_year())
    representative = new_national_id()  # not the registered owner: the official letter speaks for the entity
    data = request_input(vin, representative, plate)
    data["legal_entity"] = {
        "entity_id": "10101234567",
        "name": "شرکت آزمایشی",
        "letter_number": "ن/۱۲۳",
        "letter_date": "2025-01-01",
    }
    handle = await request(client, worker, data)
    assert (await settled(handle))["state"] == "Issuing"
    await update(handle, "issued", actor=FUEL_OFFICE, card_number=new_card_number())
    await update(
        handle, "pay_postage", actor=BANK, payment_ref=f"PST-{uuid.uuid4().hex[:10]}", amount_rial=policy.FUEL_CARD_POSTAGE_RIAL
    )
    await update(handle, "dispatch", actor=POST_OFFICE, tracking_number="PARCEL-0002")
    status = await update(handle, "undeliverable", actor=POST_OFFICE, notes="نشانی یافت نشد")
    assert status["state"] == "AwaitingCollection" and fuel.track(vin=vin)["state"] == "AwaitingCollection"  # type: ignore[index]
    status = await update(
        handle,
        "collect",
        actor=POST_OFFICE,
        collector_national_id=representative,
        vehicle_documents=["ownership_certificate"],
        owner_id_document=True,
    )
    assert status["state"] == "Collected"
    # Without the letter, someone who is not the owner is refused.
    vin, _, plate, _ = vehicle(year=await this_year())
    other = await request(client, worker, request_input(vin, new_national_id(), plate))
    status = await settled(other)
    assert status["state"] == "Rejected" and "not the vehicle's registered owner" in " ".join(status["rejection_reasons"])
