"""Rules across cases hold under races: one active plate per VIN, one open registration per person.

Each race is forced: two threads (or two cases' activities on the worker's threads) run the real
completing activity against the real database, and each pauses right after its first read of the
contested row until the other has read it too. Where the database serialises the two (SQLite's
``BEGIN IMMEDIATE``, a PostgreSQL row lock), the second cannot read while the first waits, so the
pause ends after ``PAUSE`` seconds and the first goes on alone; where it cannot (no row to lock
yet), both read, both write, and a unique index picks the winner. Either way exactly one wins and
the other is refused with the rule it broke. Run with ``--db postgres`` for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.import_purchase import EligibilityRequest, Registration, check_eligibility, record_registration
from activities.import_scheme import ALREADY_IN_ROUND
from activities.plates import VEHICLE_CHANGED, NumberingRequest, TransferRequest, number_vehicle, transfer_vehicle
from domain import policy
from registry.db import engine, session_scope
from registry.models import PlateRecord, SchemeRegistration, Vehicle, VehicleServiceRecord
from tests.helpers import actor, new_national_id, signed, start, update
from tests.plate_support import BANK, OFFICER, complete_checklist, new_vin, numbering_input, seed_vehicle
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    SCHEME,
    _open_cases,
    close_cases,
    close_round,
    env,
    open_round,
    purchase_input,
    wait_state,
    worker,
)


@pytest.fixture(autouse=True)
def registry(database: str) -> str:
    """The session's registry (it sets ``DATABASE_URL``), also for the tests that use no server."""
    return database


PAUSE = 2.0
"""Seconds a transaction waits after its read for the other to read too."""


class Meeting:
    """Pause the first matching statement of each thread until ``parties`` threads ran theirs."""

    def __init__(self, matches: Callable[[str, Any], bool], parties: int = 2) -> None:
        self.matches = matches
        self.barrier = threading.Barrier(parties)
        self.met: list[bool] = []
        """Per paused thread: whether the other read too (the database let both read)."""
        self._paused: set[int] = set()
        self._lock = threading.Lock()

    def after(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        with self._lock:
            if threading.get_ident() in self._paused or not self.matches(statement, parameters):
                return
            self._paused.add(threading.get_ident())
        try:
            self.barrier.wait(PAUSE)
            self.met.append(True)
        except threading.BrokenBarrierError:
            self.met.append(False)


@contextmanager
def meeting_after(matches: Callable[[str, Any], bool]) -> Iterator[Meeting]:
    meeting = Meeting(matches)
    event.listen(engine(), "after_cursor_execute", meeting.after)
    try:
        yield meeting
    finally:
        event.remove(engine(), "after_cursor_execute", meeting.after)


def reads(table_marker: str, key: str) -> Callable[[str, Any], bool]:
    """A statement that reads ``table_marker`` with ``key`` among its parameters."""
    return lambda statement, parameters: (
        statement.lstrip().upper().startswith("SELECT") and table_marker in statement and key in repr(parameters)
    )


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls on threads at the same time; each one's result or the exception it raised."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.exception() or f.result() for f in futures]


def refusal(outcomes: list[Any]) -> ApplicationError:
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1, outcomes
    error = errors[0]
    assert isinstance(error, ApplicationError) and error.non_retryable, repr(error)
    return error


def active_plates(vin: str) -> list[PlateRecord]:
    with session_scope() as session:
        return list(session.scalars(select(PlateRecord).where(PlateRecord.vin == vin, PlateRecord.active.is_(True))))


def open_registrations(national_id: str) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(SchemeRegistration.workflow_id).where(
                    SchemeRegistration.national_id == national_id, SchemeRegistration.open.is_(True)
                )
            )
        )


NOW = datetime(2025, 6, 1, tzinfo=UTC)


# --- threads calling the completing activities directly ---


def test_two_transfers_of_one_vin_at_once_one_wins() -> None:
    vin, seller, old_plate = seed_vehicle(fuel_card=True)
    buyers = [new_national_id(), new_national_id()]
    requests = [TransferRequest(f"race-transfer-{uuid.uuid4()}", vin, seller, b, "خریدار", None, NOW) for b in buyers]
    with meeting_after(reads("FROM vehicles", vin)) as meeting:
        outcomes = at_once(*(lambda r=r: transfer_vehicle(r) for r in requests))
    assert len(meeting.met) == 2 and not any(meeting.met), "the database let both transfers read the owner at once"
    error = refusal(outcomes)
    assert error.type == VEHICLE_CHANGED and "seller no longer owns this vehicle" in error.message
    assert vin not in error.message and seller not in error.message
    won = next(i for i, o in enumerate(outcomes) if not isinstance(o, BaseException))
    result = outcomes[won]
    assert result.previous_plate == old_plate
    [plate] = active_plates(vin)
    assert (plate.plate, plate.owner_national_id) == (result.plate, buyers[won])
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and (vehicle.owner_national_id, vehicle.plate) == (buyers[won], result.plate)
        assert session.get(VehicleServiceRecord, requests[1 - won].workflow_id) is None
    assert transfer_vehicle(requests[won]) == result  # the winner's retry finds its own write


def test_two_numberings_of_one_vin_at_once_one_wins() -> None:
    vin = new_vin()
    owners = [new_national_id(), new_national_id()]
    requests = [
        NumberingRequest(f"race-numbering-{uuid.uuid4()}", vin, "imported", "10", o, "مالک", "passenger_car", 2024, "petrol", NOW)
        for o in owners
    ]
    # No vehicle row exists yet, so nothing can be locked on PostgreSQL: both read "no plate",
    # both insert one, and the unique index on the VIN's active plate refuses the second.
    with meeting_after(reads("plates.active", vin)) as meeting:
        outcomes = at_once(*(lambda r=r: number_vehicle(r) for r in requests))
    # SQLite: the second transaction waited at BEGIN IMMEDIATE; PostgreSQL: both read, the index decided.
    assert meeting.met == ([True, True] if engine().dialect.name == "postgresql" else [False, False])
    error = refusal(outcomes)
    assert error.type == VEHICLE_CHANGED and "numbered meanwhile" in error.message and vin not in error.message
    won = next(i for i, o in enumerate(outcomes) if not isinstance(o, BaseException))
    [plate] = active_plates(vin)
    assert (plate.plate, plate.owner_national_id) == (outcomes[won], owners[won])
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and (vehicle.owner_national_id, vehicle.plate) == (owners[won], outcomes[won])
    assert number_vehicle(requests[won]) == outcomes[won]


def test_two_registrations_of_one_person_at_once_one_opens() -> None:
    nid = new_national_id()
    ids = [f"race-purchase-{uuid.uuid4()}" for _ in range(2)]
    for wid in ids:
        record_registration(Registration(wid, SCHEME, nid, "سارا رحیمی", "mellat", f"ESC-{wid}", policy.ESCROW_DEPOSIT_RIAL, NOW))
    requests = [EligibilityRequest(wid, SCHEME, nid, True, False, "mellat", policy.ESCROW_DEPOSIT_RIAL, NOW) for wid in ids]
    with meeting_after(reads("FROM scheme_registrations", nid)) as meeting:
        outcomes = at_once(*(lambda r=r: check_eligibility(r) for r in requests))
    assert len(meeting.met) == 2 and not any(meeting.met), "the database let both registrations read at once"
    assert sorted(len(o) for o in outcomes) == [0, 1], outcomes
    [reason] = next(o for o in outcomes if o)
    assert reason.startswith("already registered in another sale scheme") and nid not in reason
    won = outcomes.index([])
    assert open_registrations(nid) == [ids[won]]


def test_the_database_refuses_a_second_active_plate_and_a_second_open_registration() -> None:
    """The indexes themselves, whatever code writes: the last line under every race above."""
    from sqlalchemy.exc import IntegrityError

    vin, owner, _ = seed_vehicle()
    try:
        with session_scope() as session:
            session.add(
                PlateRecord(
                    plate="99ی999-99",
                    vin=vin,
                    owner_national_id=owner,
                    category="imported",
                    active=True,
                    issued_at=NOW,
                    workflow_id="x",
                )
            )
    except IntegrityError:
        pass
    else:
        raise AssertionError("a second active plate for one VIN was stored")
    with session_scope() as session:  # an ended plate is history, as many as there were
        session.add(
            PlateRecord(
                plate="99ی999-98",
                vin=vin,
                owner_national_id=owner,
                category="imported",
                active=False,
                issued_at=NOW,
                workflow_id="y",
            )
        )
    nid = new_national_id()
    with session_scope() as session:
        session.add(SchemeRegistration(workflow_id=f"r1-{nid}", scheme_id=SCHEME, national_id=nid, open=True, registered_at=NOW))
        session.add(SchemeRegistration(workflow_id=f"r0-{nid}", scheme_id=SCHEME, national_id=nid, open=False, registered_at=NOW))
    try:
        with session_scope() as session:
            session.add(
                SchemeRegistration(workflow_id=f"r2-{nid}", scheme_id=SCHEME, national_id=nid, open=True, registered_at=NOW)
            )
    except IntegrityError:
        pass
    else:
        raise AssertionError("a second open registration for one person was stored")


# --- end to end: two cases' commands at once, through the workflows ---


async def _at_once(*sends: Any) -> None:
    """Send the updates together; outcomes are read from the cases (a loser's update may be
    lost by the test server when its case closes right after, so its failure is not awaited)."""
    await asyncio.gather(*sends, return_exceptions=True)


async def _final(handle: WorkflowHandle, *states: str) -> dict[str, Any]:
    for _ in range(200):
        status = await handle.query("status")
        if status["state"] in states:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never reached {states}")


def _winner_and_loser(statuses: list[dict[str, Any]], won: str) -> tuple[int, dict[str, Any]]:
    assert sorted(s["state"] for s in statuses) == sorted([won, "Rejected"]), [s["state"] for s in statuses]
    winner = next(i for i, s in enumerate(statuses) if s["state"] == won)
    loser = statuses[1 - winner]
    assert loser["history"][-1]["event"] == "registry_refused" and len(loser["rejection_reasons"]) == 1
    return winner, loser


async def _pay(handle: WorkflowHandle, fee: int) -> Any:
    fields = {"actor": BANK, "payment_ref": f"PAY-{handle.id}", "amount_rial": fee}
    return await handle.execute_update("pay_plate_fee", await signed(handle, "pay_plate_fee", fields))


async def test_two_transfer_cases_of_one_car_paid_at_once_one_transfers(client: Client, worker: Worker) -> None:
    vin, seller, _ = seed_vehicle()
    buyers = [new_national_id(), new_national_id()]
    handles = []
    for buyer in buyers:
        data = {"vin": vin, "seller": {"national_id": seller}, "buyer": {"national_id": buyer, "full_name": "سارا محمدی"}}
        handle = await start(client, worker, "PlateTransfer", data, "transfer")
        await complete_checklist(handle, actor("seller", seller))
        await update(handle, "confirm_presence", actor=OFFICER, party="seller")
        await update(handle, "confirm_presence", actor=OFFICER, party="buyer")
        status = await update(handle, "consent", actor=actor("seller", seller))
        assert status["state"] == "AwaitingFee"
        handles.append(handle)
    with meeting_after(reads("FROM vehicles", vin)) as meeting:
        await _at_once(*(_pay(h, policy.PLATE_TRANSFER_FEE_RIAL) for h in handles))
    assert not any(meeting.met), "the database let both transfers read the owner at once"
    statuses = [await _final(h, "Transferred", "Rejected") for h in handles]
    winner, loser = _winner_and_loser(statuses, "Transferred")
    assert "seller no longer owns this vehicle" in loser["rejection_reasons"][0]
    [plate] = active_plates(vin)
    assert (plate.plate, plate.owner_national_id) == (statuses[winner]["plate"], buyers[winner])
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.owner_national_id == buyers[winner]


async def test_two_numbering_cases_of_one_vin_paid_at_once_one_numbers(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    year = (await env.get_current_time()).year
    first = numbering_input(year=year)
    second = {**numbering_input(year=year), "vin": first["vin"]}
    handles = []
    for data in (first, second):
        handle = await start(client, worker, "VehicleNumbering", data, "numbering")
        await complete_checklist(handle, actor("applicant", data["owner"]["national_id"]))
        status = await update(handle, "inspect", actor=OFFICER, passed=True)
        assert status["state"] == "AwaitingFee"
        handles.append((handle, status["fee_rial"]))
    with meeting_after(reads("plates.active", first["vin"])):
        await _at_once(*(_pay(h, fee) for h, fee in handles))
    statuses = [await _final(h, "Numbered", "Rejected") for h, _ in handles]
    winner, loser = _winner_and_loser(statuses, "Numbered")
    assert "numbered meanwhile" in loser["rejection_reasons"][0] and loser["plate"] is None
    owners = [first["owner"]["national_id"], second["owner"]["national_id"]]
    [plate] = active_plates(first["vin"])
    assert (plate.plate, plate.owner_national_id) == (statuses[winner]["plate"], owners[winner])


async def test_two_purchases_of_one_person_started_at_once_one_is_eligible(client: Client, worker: Worker) -> None:
    nid = new_national_id()
    round = await open_round(client, worker)  # both in one scheme's round: its registration decides
    with meeting_after(reads("FROM scheme_applicants", nid)):
        handles = await asyncio.gather(
            *(
                start(client, worker, "ImportPurchase", purchase_input(nid, scheme_id=round.scheme_id), "purchase")
                for _ in range(2)
            )
        )
        _open_cases.extend(handles)
        round.cases.extend(handles)
        await close_round(round)
        statuses = [await wait_state(h, "Eligible", "Ineligible", "Refused") for h in handles]
    # The other is refused at its start, or, when both passed the start's read-only check at once,
    # found ineligible by the registration's unique index.
    assert sorted(s["state"] for s in statuses) in (["Eligible", "Ineligible"], ["Eligible", "Refused"])
    eligible = next(i for i, s in enumerate(statuses) if s["state"] == "Eligible")
    other = statuses[1 - eligible]
    assert ALREADY_IN_ROUND in (other.get("reason") or " ".join(other["ineligible_reasons"]))
    assert open_registrations(nid) == [handles[eligible].id]
    with session_scope() as session:
        assert (
            session.scalar(select(func.count()).select_from(SchemeRegistration).where(SchemeRegistration.national_id == nid)) == 1
        )
