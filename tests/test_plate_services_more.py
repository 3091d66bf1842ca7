"""The after-numbering services issue 9 added (seed 004), end to end on the time-skipping server:
the ماده ۳۰ fine for a change made without a permit, historic cars' traffic permits and
scrapping, and the change of use of trucks."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from domain.calendar import add_jalali_months, tehran_today
from domain.display import jalali_date
from lifecycles.plate_services import fine_bounds
from registry.db import session_scope
from registry.models import HistoricTrafficPermit, Vehicle, VehicleServiceRecord
from tests.helpers import actor, rejected, server_now, start, update
from tests.plate_support import BANK, OFFICER, closed, complete_checklist, officer_at, seed_vehicle, settled
from worker import build_replayer
from workflows.plate_services import PlateServiceWorkflow

APPEAL_UNIT = actor(policy.ARTICLE_30_APPEAL_UNIT_ROLE, "appeal-unit-tehran")
"""The appeal unit («واحد رسیدگی به اعتراضات»): role ``expert``, our choice."""


async def _case(
    client: Client,
    worker: Worker,
    service: str,
    *,
    vin_owner: tuple[str, str] | None = None,
    by: dict[str, str] | None = None,
    **extra: Any,
) -> tuple[WorkflowHandle, str, dict[str, str]]:
    vin, owner = vin_owner or seed_vehicle()[:2]
    data = {"service": service, "vin": vin, "owner": {"national_id": owner, "full_name": "علی رضایی"}, **extra}
    handle = await start(client, worker, "PlateService", data, f"service-{service}", by=by)
    return handle, vin, actor("applicant", owner)


# --- ماده ۳۰: a part or the colour changed without a permit ---


def test_fine_bounds_are_an_eighth_to_a_quarter_in_whole_rials() -> None:
    assert fine_bounds(80_000_000) == (10_000_000, 20_000_000)
    assert fine_bounds(1_000_001) == (125_001, 250_000)  # ⌈price/8⌉ .. ⌊price/4⌋


async def _fined(client: Client, worker: Worker, finding: dict[str, Any]) -> tuple[WorkflowHandle, str, dict[str, str]]:
    """A ماده ۳۰ case through its finding, the appeal unit's fine at the upper bound, and its payment."""
    handle, vin, owner = await _case(client, worker, "unpermitted_change", by=OFFICER)
    await settled(handle)
    status = await update(handle, "record_finding", actor=OFFICER, **finding)
    fine = fine_bounds(finding["price_rial"])[1]
    await update(handle, "set_fine", actor=APPEAL_UNIT, fine_rial=fine)
    status = await update(handle, "pay_fine", actor=BANK, payment_ref=f"FINE-{handle.id[-30:]}", amount_rial=fine)
    assert status["state"] == "TitleCorrection"
    return handle, vin, owner


async def test_unpermitted_colour_change_fined_paid_then_title_corrected(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _case(client, worker, "unpermitted_change", by=OFFICER)
    status = await settled(handle)
    assert status["state"] == "Open" and "record_finding" in status["allowed"]
    assert not {"submit_document", "inspect", "cancel"} & set(status["allowed"])
    assert "not allowed" in await rejected(handle, "submit_document", actor=owner, kind="vehicle_documents")
    assert "not allowed" in await rejected(handle, "cancel", actor=owner)  # a finding is not the owner's to withdraw
    assert "role 'applicant'" in await rejected(
        handle, "record_finding", actor=owner, part="colour", colour="dark_green", price_rial=80_000_000
    )
    status = await update(handle, "record_finding", actor=OFFICER, part="colour", colour="dark_green", price_rial=80_000_000)
    assert status["state"] == "FineDecision" and status["fine_bounds_rial"] == [10_000_000, 20_000_000]

    # The appeal unit's fine: 1/8 to 1/4 of the price the officer recorded (seed 004 «یک چهارک تا یک هشتم»).
    assert "role 'officer'" in await rejected(handle, "set_fine", actor=OFFICER, fine_rial=10_000_000)
    assert "between 1/8 and 1/4" in await rejected(handle, "set_fine", actor=APPEAL_UNIT, fine_rial=9_999_999)
    assert "between 1/8 and 1/4" in await rejected(handle, "set_fine", actor=APPEAL_UNIT, fine_rial=20_000_001)
    status = await update(handle, "set_fine", actor=APPEAL_UNIT, fine_rial=10_000_000, notes="رأی واحد رسیدگی")
    assert status["state"] == "AwaitingFine" and status["fine_rial"] == 10_000_000

    # Paid by a bank, to the rial.
    ref = f"FINE-{handle.id[-30:]}"
    assert "role 'officer'" in await rejected(handle, "pay_fine", actor=OFFICER, payment_ref=ref, amount_rial=10_000_000)
    assert "must equal fine_rial" in await rejected(handle, "pay_fine", actor=BANK, payment_ref=ref, amount_rial=9_000_000)
    status = await update(handle, "pay_fine", actor=BANK, payment_ref=ref, amount_rial=10_000_000)
    assert status["state"] == "TitleCorrection" and status["fine_payment_ref"] == ref
    assert set(status["missing"]) >= {"vehicle_documents", "identity_document"}

    # The title is corrected once the owner's documents are in and the re-inspection finds no corruption.
    await complete_checklist(handle, owner)
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.colour is None
    status = await update(handle, "inspect", actor=OFFICER, passed=True, notes="فساد کشف نشد")
    assert status["state"] == "Completed" and status["result"]["title_corrected"] is True
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.colour == "dark_green"
        record = session.get(VehicleServiceRecord, handle.id)
        assert record is not None and record.detail["fine"]["fine_rial"] == 10_000_000


async def test_unpermitted_engine_change_puts_the_part_on_the_title(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _fined(client, worker, {"part": "engine", "price_rial": 1_000_001})
    await complete_checklist(handle, owner)
    assert (await update(handle, "inspect", actor=OFFICER, passed=True))["state"] == "Completed"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.replaced_parts is not None
        assert vehicle.replaced_parts["engine"]["workflow_id"] == handle.id


async def test_corruption_found_leaves_the_title_uncorrected(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _fined(client, worker, {"part": "colour", "colour": "white", "price_rial": 40_000_000})
    await complete_checklist(handle, owner)
    status = await update(handle, "inspect", actor=OFFICER, passed=False, notes="محل حک شماره سنگ خورده")
    assert status["state"] == "Rejected" and "title is not corrected" in status["rejection_reasons"][0]
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.colour is None


async def test_a_taxi_colour_is_fined_but_never_goes_on_the_title(client: Client, worker: Worker) -> None:
    handle, vin, owner = await _fined(client, worker, {"part": "colour", "colour": "taxi_yellow", "price_rial": 40_000_000})
    await complete_checklist(handle, owner)
    assert "cannot take colour taxi_yellow" in await rejected(handle, "inspect", actor=OFFICER, passed=True)
    status = await update(handle, "inspect", actor=OFFICER, passed=False, notes="رنگ تاکسی")
    assert status["state"] == "Rejected"


# --- historic cars: traffic permits and scrapping ---


async def _tehran_today() -> date:
    return tehran_today(await server_now())


def _trip(first: date, days: int = 2, event: str = "exhibition") -> dict[str, Any]:
    last = first + timedelta(days=days - 1)
    return {
        "event": event,
        "event_name": "نمایشگاه خودروهای کلاسیک",
        "route": "تهران، میدان آزادی ← کاخ سعدآباد",
        "starts_on": first.isoformat(),
        "ends_on": last.isoformat(),
    }


async def _settled_or_refused(handle: WorkflowHandle) -> dict[str, Any]:
    for _ in range(200):
        status = await handle.query("status")
        if status["state"] == "Refused" or status.get("eligibility_checked"):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} neither settled nor refused")


async def test_historic_traffic_permit_for_a_dated_route_and_event(client: Client, worker: Worker) -> None:
    vin, owner = seed_vehicle(category="historic")[:2]
    first = await _tehran_today() + timedelta(days=5)
    handle, _, applicant = await _case(client, worker, "historic_traffic_permit", vin_owner=(vin, owner), trip=_trip(first))
    status = await complete_checklist(handle, applicant)
    assert set(status["checklist"]) == {"event_invitation", "ownership_document", "third_party_insurance", "identity_document"}
    status = await update(handle, "inspect", actor=OFFICER, passed=True, notes="مجوز کتبی صادر شد")
    assert status["state"] == "Completed"
    assert status["result"]["permit"]["starts_on"] == first.isoformat()
    with session_scope() as session:
        permit = session.get(HistoricTrafficPermit, handle.id)
        assert permit is not None and permit.vin == vin and permit.starts_on == first and permit.event == "exhibition"
    details = (await handle.query("__temporal_workflow_metadata")).current_details
    assert f"از {jalali_date(first)}" in details  # Jalali dates, Persian digits


async def test_weddings_and_ceremonies_are_never_permitted(client: Client, worker: Worker) -> None:
    first = await _tehran_today() + timedelta(days=5)
    for event, says in (("wedding", "ماشین عروس"), ("ceremonial", "ماشین تشریفات")):
        handle, _, _ = await _case(
            client,
            worker,
            "historic_traffic_permit",
            vin_owner=seed_vehicle(category="historic")[:2],
            trip=_trip(first, event=event),
        )
        status = await _settled_or_refused(handle)
        assert status["state"] == "Refused" and f"as a {event} car" in status["reason"] and says in status["reason"], status


async def test_historic_permit_dates_are_checked(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    today = await _tehran_today()
    refused = [
        ({**_trip(today), "ends_on": (today - timedelta(days=1)).isoformat()}, "ends_on is before starts_on"),
        (_trip(today, days=policy.HISTORIC_PERMIT_MAX_DAYS + 1), f"at most {policy.HISTORIC_PERMIT_MAX_DAYS} days"),
    ]
    for trip, says in refused:
        handle, _, _ = await _case(
            client, worker, "historic_traffic_permit", vin_owner=seed_vehicle(category="historic")[:2], trip=trip
        )
        status = await _settled_or_refused(handle)
        assert status["state"] == "Refused" and says in status["reason"], status
    rejected_cases = [
        (_trip(today - timedelta(days=1)), "has passed"),
        (_trip(add_jalali_months(today, policy.HISTORIC_PERMIT_MAX_LEAD_MONTHS) + timedelta(days=1)), "Jalali months ahead"),
    ]
    for trip, says in rejected_cases:
        handle, _, _ = await _case(
            client, worker, "historic_traffic_permit", vin_owner=seed_vehicle(category="historic")[:2], trip=trip
        )
        status = await settled(handle)
        assert status["state"] == "Rejected" and says in status["rejection_reasons"][0], status
    # The last day still allowed ahead is accepted.
    latest = add_jalali_months(today, policy.HISTORIC_PERMIT_MAX_LEAD_MONTHS)
    handle, _, owner = await _case(
        client, worker, "historic_traffic_permit", vin_owner=seed_vehicle(category="historic")[:2], trip=_trip(latest)
    )
    assert (await settled(handle))["state"] == "Open"

    # A permit is not issued once its first day has passed.
    handle, _, owner = await _case(
        client,
        worker,
        "historic_traffic_permit",
        vin_owner=seed_vehicle(category="historic")[:2],
        trip=_trip(today + timedelta(days=1)),
    )
    await complete_checklist(handle, owner)
    await env.sleep(timedelta(days=3))
    assert "has passed" in await rejected(handle, "inspect", actor=OFFICER, passed=True)


async def test_only_a_historic_car_needs_a_traffic_permit(client: Client, worker: Worker) -> None:
    first = await _tehran_today() + timedelta(days=5)
    handle, _, _ = await _case(client, worker, "historic_traffic_permit", trip=_trip(first))
    status = await settled(handle)
    assert status["state"] == "Rejected" and "only a car on historic plates" in status["rejection_reasons"][0]


async def test_a_historic_car_is_scrapped_only_after_an_accident_with_both_agreements(client: Client, worker: Worker) -> None:
    vin, owner = seed_vehicle(category="historic")[:2]
    accident = {"occurred_on": (await _tehran_today()).isoformat(), "description": "آتش‌سوزی در تصادف"}
    handle, _, applicant = await _case(client, worker, "scrapping", vin_owner=(vin, owner), accident=accident)
    status = await settled(handle)
    assert status["state"] == "Open"
    assert {"traffic_police_agreement", "working_group_agreement"} <= set(status["missing"])
    await update(handle, "consent", actor=actor("owner", owner))
    await update(handle, "inspect", actor=OFFICER, passed=True)
    for kind in [k for k in status["missing"] if k in status["checklist"] and k != "working_group_agreement"]:
        status = await update(handle, "submit_document", actor=applicant, kind=kind, reference=f"doc-{kind}")
    assert status["state"] == "Open" and status["missing"] == ["working_group_agreement"]  # not without both
    status = await complete_checklist(handle, applicant)
    assert status["state"] == "Completed"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.scrapped_at is not None

    # Without an accident a historic car is refused (seed 004 «اسقاط نمودن خودروهای تاریخی ممنوع می باشد»);
    # an accident "tomorrow" proves nothing.
    handle, _, _ = await _case(client, worker, "scrapping", vin_owner=seed_vehicle(category="historic")[:2])
    assert "historic car may not be scrapped" in (await settled(handle))["rejection_reasons"][0]
    tomorrow = {**accident, "occurred_on": (await _tehran_today() + timedelta(days=1)).isoformat()}
    handle, _, _ = await _case(client, worker, "scrapping", vin_owner=seed_vehicle(category="historic")[:2], accident=tomorrow)
    assert "in the future" in (await settled(handle))["rejection_reasons"][0]


async def test_an_accident_asks_no_agreements_of_an_ordinary_car(client: Client, worker: Worker) -> None:
    accident = {"occurred_on": (await _tehran_today()).isoformat(), "description": "تصادف"}
    handle, _, _ = await _case(client, worker, "scrapping", accident=accident)
    assert "traffic_police_agreement" not in (await settled(handle))["checklist"]


# --- change of use of trucks ---

CAPITAL_OFFICER = officer_at("isfahan")
"""An officer of a provincial capital's centre (shipped reference data)."""

TRUCK = {
    "body": "dropside",
    "chassis_length_mm": 7_200,
    "axles": 3,
    "axle_positions_mm": [1_200, 5_400, 6_700],
    "wheels": 10,
    "capacity_kg": 18_000,
}


def _truck(kind: str = "truck", body: str | None = None) -> tuple[str, str]:
    """A numbered vehicle of ``kind`` (a truck unless told), its body as registered."""
    vin, owner, _ = seed_vehicle()
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None
        vehicle.kind, vehicle.body = kind, body
    return vin, owner


async def test_change_of_use_within_the_cargo_group_at_a_provincial_capital(client: Client, worker: Worker) -> None:
    vin, owner = _truck()
    use = {"from_body": "dropside", "to_body": "box"}
    handle, _, applicant = await _case(client, worker, "change_of_use", vin_owner=(vin, owner), use_change=use)
    status = await complete_checklist(handle, applicant)
    assert status["missing"] == ["the officer's inspection"]

    # Only at the numbering centres of provincial capitals (seed 004 «صرفا در مراکز شماره گذاری مرکز استان ها»).
    assert "provincial capitals" in await rejected(handle, "inspect", actor=officer_at("kashan"), passed=True, truck=TRUCK)
    assert "names no centre" in await rejected(handle, "inspect", actor=officer_at(None), passed=True, truck=TRUCK)
    assert "(truck)" in await rejected(handle, "inspect", actor=CAPITAL_OFFICER, passed=True)
    assert "changes a dropside" in await rejected(
        handle, "inspect", actor=CAPITAL_OFFICER, passed=True, truck={**TRUCK, "body": "flatbed"}
    )
    status = await update(handle, "inspect", actor=CAPITAL_OFFICER, passed=True, truck=TRUCK)
    assert status["state"] == "Permitted" and status["missing"] == ["standard_certificate", "the officer's re-inspection"]
    await update(handle, "submit_document", actor=applicant, kind="standard_certificate", reference="ISIRI-1234")

    # Nothing but the body may change: chassis length, axles (count, place), wheels, capacity.
    converted = {**TRUCK, "body": "box"}
    for changed in (
        {"chassis_length_mm": 7_700},
        {"chassis_length_mm": 7_000},
        {"axles": 2, "axle_positions_mm": [1_200, 6_000]},
        {"axle_positions_mm": [1_200, 5_400, 7_000]},
        {"wheels": 12},
        {"capacity_kg": 20_000},
        {"capacity_kg": 16_000},
    ):
        name = next(iter(changed))
        message = await rejected(handle, "inspect", actor=CAPITAL_OFFICER, passed=True, truck={**converted, **changed})
        assert f"{name} changed" in message, message
    assert "permit is for a box" in await rejected(
        handle, "inspect", actor=CAPITAL_OFFICER, passed=True, truck={**converted, "body": "roofed"}
    )
    status = await update(handle, "inspect", actor=CAPITAL_OFFICER, passed=True, truck=converted)
    assert status["state"] == "Completed" and status["result"]["body"] == "box"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.body == "box"


async def test_change_of_use_across_groups_is_refused(client: Client, worker: Worker) -> None:
    use = {"from_body": "dropside", "to_body": "tipper"}
    handle, _, _ = await _case(client, worker, "change_of_use", vin_owner=_truck(), use_change=use)
    status = await _settled_or_refused(handle)
    assert status["state"] == "Refused" and "stays within its group" in status["reason"], status


async def test_change_of_use_needs_a_truck_with_that_body(client: Client, worker: Worker) -> None:
    use = {"from_body": "mixer", "to_body": "tipper"}
    handle, _, _ = await _case(client, worker, "change_of_use", vin_owner=_truck("passenger_car"), use_change=use)
    assert "trucks and light trucks" in (await settled(handle))["rejection_reasons"][0]
    handle, _, _ = await _case(client, worker, "change_of_use", vin_owner=_truck("light_truck", body="bunker"), use_change=use)
    assert "body as bunker, not mixer" in (await settled(handle))["rejection_reasons"][0]
    handle, _, _ = await _case(client, worker, "change_of_use", vin_owner=_truck("light_truck", body="mixer"), use_change=use)
    assert (await settled(handle))["state"] == "Open"


async def test_new_service_histories_replay(client: Client, worker: Worker) -> None:
    """Each new service's history replays deterministically (the patched historic scrapping too)."""
    fined, _, owner = await _fined(client, worker, {"part": "body", "price_rial": 64_000_000})
    await complete_checklist(fined, owner)
    await update(fined, "inspect", actor=OFFICER, passed=True)

    vin, owner_id = seed_vehicle(category="historic")[:2]
    accident = {"occurred_on": (await _tehran_today()).isoformat(), "description": "تصادف"}
    scrapped, _, applicant = await _case(client, worker, "scrapping", vin_owner=(vin, owner_id), accident=accident)
    await update(scrapped, "consent", actor=actor("owner", owner_id))
    await update(scrapped, "inspect", actor=OFFICER, passed=True)
    await complete_checklist(scrapped, applicant)

    converted, _, applicant = await _case(
        client, worker, "change_of_use", vin_owner=_truck(), use_change={"from_body": "dropside", "to_body": "flatbed"}
    )
    await complete_checklist(converted, applicant)
    await update(converted, "inspect", actor=CAPITAL_OFFICER, passed=True, truck=TRUCK)
    await complete_checklist(converted, applicant)
    await update(converted, "inspect", actor=CAPITAL_OFFICER, passed=True, truck={**TRUCK, "body": "flatbed"})

    replayer = build_replayer([PlateServiceWorkflow])
    for handle in (fined, scrapped, converted):
        assert (await handle.query("status"))["state"] == "Completed"
        await closed(handle)
        await replayer.replay_workflow(await handle.fetch_history())


async def test_new_commands_refuse_oversized_and_control_input(client: Client, worker: Worker) -> None:
    """The fields of the new updates are bounded like every other (validator refusals naming the field)."""
    from domain import commands
    from tests.test_bounds import BIG, NUL, TOO_MUCH_RIAL, refuses_every, text_cases

    handle, _, _ = await _case(client, worker, "unpermitted_change", by=OFFICER)
    await settled(handle)
    await refuses_every(
        handle,
        "record_finding",
        OFFICER,
        {"part": "colour", "colour": "white", "price_rial": 1},
        [
            ("price_rial", TOO_MUCH_RIAL, "less than or equal to"),
            ("notes", BIG, "at most 300"),
            *text_cases("notes", commands.TEXT_MAX),
            *text_cases("colour", commands.KIND_MAX),
        ],
    )
    await refuses_every(
        handle,
        "set_fine",
        APPEAL_UNIT,
        {"fine_rial": 1},
        [("fine_rial", TOO_MUCH_RIAL, "less than or equal to"), *text_cases("notes", commands.TEXT_MAX)],
    )
    await refuses_every(
        handle,
        "pay_fine",
        BANK,
        {"payment_ref": "F-1", "amount_rial": 1},
        [("payment_ref", NUL, "control character"), ("amount_rial", TOO_MUCH_RIAL, "less than or equal to")],
    )
    await refuses_every(
        handle,
        "inspect",
        OFFICER,
        {"passed": True, "truck": TRUCK},
        [
            ("truck.chassis_length_mm", 30_001, "less than or equal to"),
            ("truck.axles", 11, "less than or equal to"),
            ("truck.wheels", 41, "less than or equal to"),
            ("truck.capacity_kg", 100_001, "less than or equal to"),
            ("truck.axle_positions_mm", list(range(11)), "at most 10"),
        ],
    )
