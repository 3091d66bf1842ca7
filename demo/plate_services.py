"""After-numbering services demo (seed 004, issue 9): a ماده ۳۰ fine paid and the title corrected,
a historic car's traffic permit then its scrapping after an accident, a wedding trip refused, and
a truck's change of use at a provincial capital's centre."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from cli.plates import start_plate_case
from demo.common import actor, link, person_id, send, wait_for_state
from demo.plates import BANK, NEW_YEAR, OFFICER, RESIDENCE, _checked, _documents, _numbered, _vin
from domain import policy
from domain.calendar import tehran_today
from domain.display import TEHRAN
from lifecycles.plate_services import fine_bounds
from lifecycles.plates import RESIDENCE_KINDS

HISTORIC_OFFICER = {**actor("officer", "plate-centre-shahrak"), "centre": "shahrak_azmayesh"}
"""Historic cars are numbered at the Shahrak-e Azmayesh centre (seed 004)."""
CAPITAL_OFFICER = {**actor("officer", "plate-centre-isfahan"), "centre": "isfahan"}
"""A change of use is done only at a provincial capital's centre (seed 004)."""
APPEAL_UNIT = actor(policy.ARTICLE_30_APPEAL_UNIT_ROLE, "appeal-unit-tehran")
"""The appeal unit («واحد رسیدگی به اعتراضات») sets the ماده ۳۰ fine: role ``expert`` (our choice)."""

TRUCK = {
    "body": "dropside",
    "chassis_length_mm": 7_200,
    "axles": 3,
    "axle_positions_mm": [1_200, 5_400, 6_700],
    "wheels": 10,
    "capacity_kg": 18_000,
}


async def _service(
    client: Client, data: dict[str, Any], summary: str, by: tuple[str, str], *, refused: bool = False
) -> tuple[WorkflowHandle, dict[str, Any]]:
    """Start a service case; the status once its start checks ran (or once refused, when it must be)."""
    handle = client.get_workflow_handle(await start_plate_case("PlateService", data, "plate-service", summary, by))
    return handle, await (wait_for_state(handle, "Refused") if refused else _checked(handle))


async def _submit_missing(handle: WorkflowHandle, by: dict[str, str]) -> dict[str, Any]:
    """Submit the documents the case's current stage still lacks (any state, unlike ``_documents``)."""
    status = await handle.query("status")
    for kind in [k for k in status["missing"] if k in status["checklist"]]:
        proof = {"residence": RESIDENCE} if kind in RESIDENCE_KINDS else {}
        who = OFFICER if kind in RESIDENCE_KINDS else by  # the officer files a proof of residence
        status = await send(handle, "submit_document", actor=who, kind=kind, reference=f"{kind}-0001", **proof)
    return status


async def _number(client: Client, owner: str, data: dict[str, Any], officer: dict[str, str]) -> str:
    """Number a vehicle end to end (documents, inspection, plate fee); returns its VIN."""
    data = {"vin": _vin(), "owner": {"national_id": owner, "full_name": "نرگس موسوی"}, **data}
    handle = client.get_workflow_handle(
        await start_plate_case("VehicleNumbering", data, "numbering", "شماره‌گذاری", ("owner", owner))
    )
    await _documents(handle, actor("applicant", owner), officer)
    status = await send(handle, "inspect", actor=officer, passed=True)
    status = await send(
        handle, "pay_plate_fee", actor=BANK, payment_ref=f"PLT-{uuid.uuid4().hex[:10]}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Numbered", status
    return str(data["vin"])


async def _article_30(client: Client, lines: list[str]) -> None:
    owner = person_id()
    _, status = await _numbered(client, owner)
    who = {"national_id": owner, "full_name": "مریم احمدی"}
    handle, _ = await _service(
        client, {"service": "unpermitted_change", "vin": status["vin"], "owner": who}, "ماده ۳۰", ("officer", OFFICER["id"])
    )
    price = 120_000_000
    await send(handle, "record_finding", actor=OFFICER, part="colour", colour="dark_green", price_rial=price)
    fine = fine_bounds(price)[0]  # the appeal unit's fine: 1/8 to 1/4 of the paint's price
    await send(handle, "set_fine", actor=APPEAL_UNIT, fine_rial=fine, notes="رأی واحد رسیدگی به اعتراضات")
    await send(handle, "pay_fine", actor=BANK, payment_ref=f"FINE-{uuid.uuid4().hex[:10]}", amount_rial=fine)
    await _submit_missing(handle, actor("applicant", owner))
    status = await send(handle, "inspect", actor=OFFICER, passed=True, notes="فساد کشف نشد؛ سند اصلاح شد")
    lines.append(
        f"PlateService unpermitted_change {status['state']} (fine {fine} rials paid, title corrected): {link(handle.id)}"
    )


async def _historic(client: Client, lines: list[str]) -> None:
    owner = person_id()
    made = NEW_YEAR.year - policy.HISTORIC_PRECIOUS_MIN_AGE_YEARS - 10
    vin = await _number(
        client,
        owner,
        {
            "category": "historic",
            "vehicle": {"kind": "passenger_car", "production_year": made, "fuel": "petrol", "origin": "domestic"},
            "historic_class": "precious",
        },
        HISTORIC_OFFICER,
    )
    who = {"national_id": owner, "full_name": "نرگس موسوی"}
    first = tehran_today(datetime.now(TEHRAN)) + timedelta(days=3)
    trip = {
        "event_name": "نمایشگاه خودروهای کلاسیک",
        "route": "تهران، میدان آزادی ← کاخ سعدآباد",
        "starts_on": first.isoformat(),
        "ends_on": (first + timedelta(days=1)).isoformat(),
    }
    wedding, status = await _service(
        client,
        {"service": "historic_traffic_permit", "vin": vin, "owner": who, "trip": {**trip, "event": "wedding"}},
        "مجوز تردد تاریخی",
        ("owner", owner),
        refused=True,
    )
    lines.append(f"PlateService historic_traffic_permit {status['state']} ({status.get('reason')}): {link(wedding.id)}")

    handle, _ = await _service(
        client,
        {"service": "historic_traffic_permit", "vin": vin, "owner": who, "trip": {**trip, "event": "exhibition"}},
        "مجوز تردد تاریخی",
        ("owner", owner),
    )
    await _documents(handle, actor("applicant", owner))
    status = await send(handle, "inspect", actor=OFFICER, passed=True, notes="مجوز کتبی تردد صادر شد")
    lines.append(f"PlateService historic_traffic_permit {status['state']} ({first} onwards): {link(handle.id)}")

    accident = {"occurred_on": tehran_today(datetime.now(TEHRAN)).isoformat(), "description": "از حیث انتفاع خارج شد (آتش‌سوزی)"}
    handle, _ = await _service(
        client, {"service": "scrapping", "vin": vin, "owner": who, "accident": accident}, "اسقاط خودروی تاریخی", ("owner", owner)
    )
    await send(handle, "consent", actor=actor("owner", owner))
    await send(handle, "inspect", actor=OFFICER, passed=True)
    status = await _submit_missing(handle, actor("applicant", owner))  # the police's and the working group's agreements too
    lines.append(f"PlateService scrapping of a historic car {status['state']} (after an accident): {link(handle.id)}")


async def _change_of_use(client: Client, lines: list[str]) -> None:
    owner = person_id()
    vin = await _number(
        client,
        owner,
        {
            "category": "imported",
            "vehicle": {
                "kind": "truck",
                "production_year": NEW_YEAR.year,
                "fuel": "diesel",
                "production_date": NEW_YEAR.isoformat(),
                "customs_cleared_on": NEW_YEAR.isoformat(),
            },
        },
        OFFICER,
    )
    who = {"national_id": owner, "full_name": "نرگس موسوی"}
    use = {"from_body": "dropside", "to_body": "box"}
    handle, _ = await _service(
        client, {"service": "change_of_use", "vin": vin, "owner": who, "use_change": use}, "تغییر کاربری", ("owner", owner)
    )
    await _documents(handle, actor("applicant", owner))
    await send(handle, "inspect", actor=CAPITAL_OFFICER, passed=True, truck=TRUCK, notes="مجوز تغییر کاربری صادر شد")
    await _submit_missing(handle, actor("applicant", owner))
    status = await send(handle, "inspect", actor=CAPITAL_OFFICER, passed=True, truck={**TRUCK, "body": "box"})
    await wait_for_state(handle, "Completed")
    lines.append(f"PlateService change_of_use {status['state']} (dropside → box, Isfahan centre): {link(handle.id)}")


async def run(client: Client) -> list[str]:
    lines: list[str] = []
    await _article_30(client, lines)
    await _historic(client, lines)
    await _change_of_use(client, lines)
    return lines
