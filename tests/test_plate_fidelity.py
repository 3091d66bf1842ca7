"""Seed 004 as issue 9 corrected numbering and transfer: documents by the registry's facts
(origin, earlier plates, who imported), typed proofs of residence, numbering centres."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import add_jalali_years
from lifecycles.residence import ResidenceProof, residence_problems
from registry.db import session_scope
from registry.models import Person, PlateRecord, Vehicle
from tests.helpers import actor, new_national_id, rejected, start, update
from tests.plate_support import (
    BANK,
    QUALIFYING_RESIDENCE,
    complete_checklist,
    new_vin,
    numbered,
    numbering_input,
    numbering_officer,
    officer_at,
    seed_vehicle,
    settled,
)


@pytest.fixture
async def now(env: WorkflowEnvironment) -> datetime:
    return await env.get_current_time()


def transfer_input(vin: str, seller: str) -> dict:
    return {"vin": vin, "seller": {"national_id": seller}, "buyer": {"national_id": new_national_id(), "full_name": "سارا محمدی"}}


# --- item 5: the factory sale document only for domestic cars («تولید داخل») ---


@pytest.mark.parametrize(
    "origin,asked",
    [("imported", False), ("domestic", True), (None, True)],  # None: recorded before origins (ours: asked)
)
async def test_transfer_asks_the_factory_sale_document_only_of_domestic_cars(
    client: Client, worker: Worker, origin: str | None, asked: bool
) -> None:
    vin, seller, _ = seed_vehicle(origin=origin)
    handle = await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer")
    status = await settled(handle)
    assert ("factory_sale_document" in status["checklist"]) is asked
    assert status["registry_facts"] == {"origin": origin}
    if not asked:
        note = status["history"][-1]
        assert note["event"] == "checklist_adjusted" and note["waived"] == ["factory_sale_document"]
        assert "not on this case's checklist" in await rejected(
            handle, "submit_document", actor=actor("seller", seller), kind="factory_sale_document"
        )


async def test_numbering_records_the_origin_and_a_transfer_follows_it(client: Client, worker: Worker, now: datetime) -> None:
    _, data, status = await numbered(client, worker, year=now.year)  # an imported car
    with session_scope() as session:
        vehicle = session.get(Vehicle, data["vin"])
        assert vehicle is not None and vehicle.origin == "imported"
    seller = data["owner"]["national_id"]
    handle = await start(client, worker, "PlateTransfer", transfer_input(data["vin"], seller), "transfer")
    status = await complete_checklist(handle, actor("seller", seller))
    assert "factory_sale_document" not in status["checklist"] and all(status["checklist"].values())


async def test_a_delivered_imported_purchase_counts_as_imported(client: Client, worker: Worker) -> None:
    vin, seller, _ = seed_vehicle()
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None
        vehicle.delivered_at = datetime.now(UTC) - timedelta(days=800)
    status = await settled(await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer"))
    assert status["registry_facts"] == {"origin": "imported"} and "factory_sale_document" not in status["checklist"]


# --- item 6: a kardex only for an authorised company's import ---


@pytest.mark.parametrize(
    "importer,kardex",
    [({"type": "private"}, False), ({"type": "authorised_company", "company_id": "IMP-7"}, True), (None, True)],
)
async def test_kardex_only_for_cars_an_authorised_company_imported(
    client: Client, worker: Worker, now: datetime, importer: dict | None, kardex: bool
) -> None:
    extra: dict[str, Any] = {"importer": importer} if importer else {}
    status = await settled(await start(client, worker, "VehicleNumbering", numbering_input(year=now.year, **extra), "numbering"))
    assert status["state"] == "Open"
    assert ("kardex" in status["checklist"]) is kardex
    assert "customs_documents" in status["checklist"]


@pytest.mark.parametrize(
    "category,importer",
    [
        ("auction", {"type": "private"}),
        ("imported", {"type": "private", "company_id": "IMP-7"}),
        ("imported", {"type": "authorised_company"}),
    ],
)
async def test_an_importer_that_does_not_fit_refuses_the_start(
    client: Client, worker: Worker, now: datetime, category: str, importer: dict
) -> None:
    handle = await start(
        client, worker, "VehicleNumbering", numbering_input(category, year=now.year, importer=importer), "numbering"
    )
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert "importer" in str(err.value.cause) or "company_id" in str(err.value.cause)


# --- item 8: auction item 8 only for never-numbered vehicles («در صورت نداشتن سابقه شماره گذاری») ---


def _vin_with_an_ended_plate(owner: str) -> str:
    vin, now = new_vin(), datetime.now(UTC)
    with session_scope() as session:
        session.add(Person(national_id=owner, full_name="مالک پیشین"))
        session.add(Vehicle(vin=vin, owner_national_id=owner, kind="passenger_car", production_year=2015, fuel="petrol"))
        session.flush()
        session.add(
            PlateRecord(
                plate=f"{10 + int(vin[-2:], 16) % 90}د{100 + int(vin[-5:-2], 16) % 900}-{20 + int(vin[-6], 16)}",
                vin=vin,
                owner_national_id=owner,
                category="imported",
                active=False,
                issued_at=now - timedelta(days=3000),
                workflow_id=f"seed-{vin}",
                ended_at=now - timedelta(days=100),
                end_reason="revoked",
            )
        )
    return vin


@pytest.mark.parametrize("origin", ["domestic", "imported"])
async def test_auction_origin_documents_only_for_a_vin_never_numbered(
    client: Client, worker: Worker, now: datetime, origin: str
) -> None:
    document = {"domestic": "factory_sale_document", "imported": "customs_documents"}[origin]
    fresh = numbering_input("auction", year=now.year - 3)
    fresh["vehicle"]["origin"] = origin
    status = await settled(await start(client, worker, "VehicleNumbering", fresh, "numbering"))
    assert status["state"] == "Open" and document in status["checklist"]
    assert status["registry_facts"] == {"numbered_before": False, "origin": None, "imported_purchase": False}

    before = numbering_input("auction", year=now.year - 3)
    before["vehicle"]["origin"] = origin
    before["vin"] = _vin_with_an_ended_plate(before["owner"]["national_id"])
    handle = await start(client, worker, "VehicleNumbering", before, "numbering")
    status = await settled(handle)
    assert status["state"] == "Open" and document not in status["checklist"], status["rejection_reasons"]
    assert status["registry_facts"] == {"numbered_before": True, "origin": None, "imported_purchase": False}
    assert [h for h in status["history"] if h["event"] == "checklist_adjusted"][0]["waived"] == [document]
    # The rest of the auction checklist still stands, and the case numbers the VIN again.
    status = await complete_checklist(handle, actor("applicant", before["owner"]["national_id"]))
    status = await update(handle, "inspect", actor=numbering_officer("auction"), passed=True)
    status = await update(
        handle, "pay_plate_fee", actor=BANK, payment_ref=f"AU-{handle.id[-30:]}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Numbered"


# --- item 12: proofs of residence, typed, each with its conditions ---


def test_residence_proofs_and_their_conditions() -> None:
    today = date(2026, 5, 1)

    def problems(**fields: object) -> list[str]:
        return residence_problems(ResidenceProof.model_validate(fields), today)

    assert residence_problems(None, today) and "residence.type" in residence_problems(None, today)[0]
    assert "never proves residence" in problems(type="plate_address")[0]
    assert "آزاد امانی" in problems(type="plate_address")[0]
    assert "only supplementary" in problems(type="utility_bill")[0]
    assert "residence.utility_bill" in problems(type="owned_home_deed")[0]
    assert problems(type="owned_home_deed", utility_bill="gas") == []
    assert problems(type="spouse_home_deed", utility_bill="water") == []
    assert len(problems(type="registered_lease")) == 2
    assert problems(type="registered_lease", tracking_code="T-1", real_estate_system_confirmed=True) == []
    assert problems(type="parents_home") and problems(type="parents_home", parent_document="lease", tracking_code="T-1")
    assert problems(type="parents_home", parent_document="deed", utility_bill="electricity") == []
    assert "expired" in problems(type="business_licence", utility_bill="gas", valid_until="2026-04-30")[0]
    assert problems(type="business_licence", utility_bill="gas", valid_until="2026-05-01") == []
    assert problems(type="employer_letter", states_address=True, confirmed_by_authority=True)  # which sector?
    assert (
        problems(type="employer_letter", employer_sector="armed_forces", states_address=True, confirmed_by_authority=True) == []
    )
    assert problems(type="local_council_confirmation", confirmed_by_authority=True)
    assert problems(type="nomad_affairs_letter") == []
    # «حداکثر دو سال از تاریخ ثبت روزنامه»: two Jalali years to the day still qualify, a day more does not.
    on_the_day = add_jalali_years(today, -2)
    company = {"type": "company_gazette", "in_county_of_registration": True, "states_address": True}
    assert problems(**company, gazette_published_on=on_the_day.isoformat()) == []
    assert "more than 2 years" in problems(**company, gazette_published_on=(on_the_day - timedelta(days=1)).isoformat())[0]


async def test_numbering_refuses_a_proof_of_residence_that_does_not_qualify(
    client: Client, worker: Worker, now: datetime
) -> None:
    data = numbering_input(year=now.year)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    owner = actor("applicant", data["owner"]["national_id"])
    await settled(handle)
    message = await rejected(handle, "submit_document", actor=owner, kind="residence_proof", reference="x")
    assert "does not qualify" in message and "residence.type" in message
    message = await rejected(handle, "submit_document", actor=owner, kind="residence_proof", residence={"type": "plate_address"})
    assert "never proves residence" in message
    message = await rejected(
        handle, "submit_document", actor=owner, kind="residence_proof", residence={"type": "owned_home_deed"}
    )
    assert "utility_bill" in message
    assert "residence belongs to a proof of residence" in await rejected(
        handle, "submit_document", actor=owner, kind="kardex", residence=QUALIFYING_RESIDENCE
    )
    # A qualifying proof, but from the applicant: only the officer, who reads the papers, files it.
    deed = {"type": "owned_home_deed", "holder": "owner", "utility_bill": "gas"}
    message = await rejected(handle, "submit_document", actor=owner, kind="residence_proof", residence=deed)
    assert "filed by the officer" in message and "role 'applicant'" in message
    status = await update(handle, "submit_document", actor=numbering_officer("imported"), kind="residence_proof", residence=deed)
    assert status["checklist"]["residence_proof"] is True


async def test_the_buyers_proof_of_residence_and_a_services_are_checked_too(client: Client, worker: Worker) -> None:
    vin, seller, _ = seed_vehicle()
    handle = await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer")
    await settled(handle)
    assert "only supplementary" in await rejected(
        handle, "submit_document", actor=actor("seller", seller), kind="buyer_residence_proof", residence={"type": "utility_bill"}
    )

    vin, owner, _ = seed_vehicle()
    service = await start(
        client,
        worker,
        "PlateService",
        {"service": "lost_or_stolen_plates", "vin": vin, "owner": {"national_id": owner, "full_name": "مالک"}},
        "service",
    )
    await settled(service)
    assert "never proves residence" in await rejected(
        service, "submit_document", actor=actor("owner", owner), kind="residence_proof", residence={"type": "plate_address"}
    )


# --- item 13: numbering centres, the officer's token naming the centre ---


async def test_imported_cars_only_at_meysam_or_provincial_capital_centres(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input(year=now.year)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    status = await settled(handle)
    assert status["centres"] == ["bandar_abbas", "isfahan", "meysam", "tabriz"]
    assert "centre kashan" in await rejected(handle, "inspect", actor=officer_at("kashan"), passed=True)  # not a capital
    assert "centre tehran_east" in await rejected(handle, "inspect", actor=officer_at("tehran_east"), passed=True)
    assert "names no centre" in await rejected(handle, "submit_document", actor=officer_at(None), kind="kardex")
    status = await update(handle, "submit_document", actor=officer_at("isfahan"), kind="kardex")
    assert status["history"][-1]["actor"]["centre"] == "isfahan"
    # The owner's own documents name no centre.
    await update(handle, "submit_document", actor=actor("applicant", data["owner"]["national_id"]), kind="customs_documents")


async def test_historic_cars_only_at_shahrak_azmayesh(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input("historic", year=now.year - 60, historic_class="precious")
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    status = await settled(handle)
    assert status["state"] == "Open" and status["centres"] == ["shahrak_azmayesh"]
    assert "only at: shahrak_azmayesh" in await rejected(handle, "inspect", actor=officer_at("meysam"), passed=True)
    await update(handle, "inspect", actor=officer_at("shahrak_azmayesh"), passed=True)


async def test_transit_at_the_centre_nearest_the_clearing_customs(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input("temporary_transit", year=now.year, kind="truck", clearing_customs="isfahan")
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    assert (await settled(handle))["centres"] == ["isfahan"]
    assert "centre meysam" in await rejected(handle, "inspect", actor=officer_at("meysam"), passed=True)
    await update(handle, "inspect", actor=officer_at("isfahan"), passed=True)

    data = numbering_input("temporary_transit", year=now.year, kind="truck")
    del data["clearing_customs"]
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert status["state"] == "Rejected" and "clearing_customs" in status["rejection_reasons"][0]

    data = numbering_input("temporary_transit", year=now.year, kind="truck", clearing_customs="nowhere")
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert (
        status["state"] == "Rejected" and "no numbering centre nearest customs office nowhere" in status["rejection_reasons"][0]
    )


async def test_a_command_sent_before_the_centres_are_known_is_judged_once_they_are(
    client: Client, worker: Worker, now: datetime
) -> None:
    """Sent with the start: the validator cannot know the centres yet, so the handler, which waits
    for the start's check, refuses it; either way nothing is recorded."""
    handle = await start(client, worker, "VehicleNumbering", numbering_input(year=now.year), "numbering")
    assert "centre kashan" in await rejected(handle, "inspect", actor=officer_at("kashan"), passed=True)
    assert (await settled(handle))["inspection"] is None


def test_centres_by_provincial_capital_and_the_token_claim() -> None:
    from activities.plates import CentreQuery, find_numbering_centres
    from security.tokens import SigningKey, TokenRejected, claims_of

    capitals = find_numbering_centres(CentreQuery(provincial_capital=True))
    assert "kashan" not in capitals and {"meysam", "isfahan", "shahrak_azmayesh"} <= set(capitals)
    assert find_numbering_centres(CentreQuery(provincial_capital=False)) == ["kashan"]
    key = SigningKey.generate()
    assert (
        claims_of(key.mint(role="officer", sub="o-1", workflow_id="w", namespace="default", centre="isfahan")).centre == "isfahan"
    )
    assert claims_of(key.mint(role="officer", sub="o-1", workflow_id="w", namespace="default")).centre is None
    with pytest.raises(TokenRejected, match="ctr"):
        claims_of(key.mint(role="officer", sub="o-1", workflow_id="w", namespace="default", ctr=7))


def test_refdata_refuses_imports_at_a_centre_outside_a_provincial_capital() -> None:
    from pydantic import ValidationError

    from registry.refdata import CentreEntry

    with pytest.raises(ValidationError, match="provincial-capital"):
        CentreEntry(centre_id="x", name_fa="x", province="x", provincial_capital=False, kinds=["imported"])


def test_the_migration_settles_origins_the_registry_can_tell(empty_database: str) -> None:
    """0008: delivered purchases and vehicles that carried an imported or transit plate are
    imported; the rest stay unknown (a transfer then asks the factory sale document)."""
    import sqlalchemy as sa
    from alembic import command

    from registry.db import _alembic_config, engine_for, migrate

    command.upgrade(_alembic_config(empty_database), "0007")
    vehicles = sa.table(
        "vehicles", sa.column("vin"), sa.column("owner_national_id"), sa.column("delivered_at", sa.DateTime(timezone=True))
    )
    plates = sa.table(
        "plates",
        *(sa.column(c) for c in ("plate", "vin", "owner_national_id", "category", "workflow_id")),
        sa.column("active", sa.Boolean),
        sa.column("issued_at", sa.DateTime(timezone=True)),
    )
    delivered, transit, historic = new_vin(), new_vin(), new_vin()
    at = datetime(2025, 1, 1, tzinfo=UTC)
    with engine_for(empty_database).begin() as db:
        for vin, when in ((delivered, at), (transit, None), (historic, None)):
            db.execute(sa.insert(vehicles).values(vin=vin, owner_national_id="0012345679", delivered_at=when))
        for n, (vin, category) in enumerate(((transit, "temporary_transit"), (historic, "historic"))):
            db.execute(
                sa.insert(plates).values(
                    plate=f"1{n}ب123-11", vin=vin, owner_national_id="0012345679", category=category,
                    workflow_id=f"seed-{n}", active=False, issued_at=at,
                )
            )  # fmt: skip
    migrate(empty_database)
    with engine_for(empty_database).begin() as db:
        origins: dict[str, str | None] = {row[0]: row[1] for row in db.execute(sa.text("SELECT vin, origin FROM vehicles"))}
    assert origins == {delivered: "imported", transit: "imported", historic: None}


# --- the review of items 5, 6, 12 and 13 (PLATE_REVIEW) ---


def test_strict_residence_conditions_holder_dates_and_fields() -> None:
    """Seed 004 names in whose name a deed, lease or licence is; a date in the future and a field
    of another proof are refused (``strict``, PLATE_REVIEW cases)."""
    today = date(2026, 5, 1)

    def problems(**fields: object) -> list[str]:
        return residence_problems(ResidenceProof.model_validate(fields), today, strict=True)

    assert "in the owner's name" in problems(type="owned_home_deed", utility_bill="gas")[0]  # «به نام مالک»
    assert "in the owner's name" in problems(type="owned_home_deed", holder="spouse", utility_bill="gas")[0]
    assert problems(type="owned_home_deed", holder="owner", utility_bill="gas") == []
    assert "in the spouse's name" in problems(type="spouse_home_deed", holder="owner", utility_bill="gas")[0]
    assert problems(type="spouse_home_deed", holder="spouse", utility_bill="gas") == []
    assert problems(type="parents_home", holder="parent", parent_document="deed", utility_bill="water") == []
    assert "in the parent's name" in problems(type="parents_home", parent_document="deed", utility_bill="water")[0]
    assert problems(type="registered_lease", holder="owner", tracking_code="T-1", real_estate_system_confirmed=True) == []
    # Fields foreign to the proof: a lease's tracking code on a deed, a holder on a council letter.
    assert (
        "does not take residence.tracking_code"
        in problems(type="owned_home_deed", holder="owner", utility_bill="gas", tracking_code="T-1")[0]
    )
    assert (
        "residence.holder"
        in problems(
            type="local_council_confirmation", holder="owner", confirmed_by_authority=True, matches_birth_certificate_place=True
        )[0]
    )
    assert (
        "does not take residence.tracking_code"
        in problems(type="parents_home", holder="parent", parent_document="deed", utility_bill="water", tracking_code="T-1")[0]
    )
    company = {"type": "company_gazette", "in_county_of_registration": True, "states_address": True}
    assert "in the future" in problems(**company, gazette_published_on="2026-05-02")[0]
    assert problems(**company, gazette_published_on="2026-05-01") == []
    # Without strict (cases started before the review) none of this is asked.
    assert residence_problems(ResidenceProof.model_validate({"type": "owned_home_deed", "utility_bill": "gas"}), today) == []


async def test_the_proof_of_residence_is_the_officers_and_is_kept_with_the_document(
    client: Client, worker: Worker, now: datetime
) -> None:
    data = numbering_input(year=now.year)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    await settled(handle)
    officer = numbering_officer("imported")
    assert "in the owner's name" in await rejected(
        handle,
        "submit_document",
        actor=officer,
        kind="residence_proof",
        residence={"type": "owned_home_deed", "utility_bill": "gas"},
    )
    proof = {
        "type": "business_licence",
        "holder": "owner",
        "utility_bill": "gas",
        "valid_until": (now + timedelta(days=90)).date().isoformat(),
    }
    status = await update(handle, "submit_document", actor=officer, kind="residence_proof", reference="BL-1", residence=proof)
    assert status["documents"][-1]["residence"] == proof and status["documents"][-1]["by"]["role"] == "officer"
    entry = status["history"][-1]
    assert entry["event"] == "submit_document" and entry["residence"] == proof

    # The transfer's buyer: the seller (or buyer) cannot certify it either.
    vin, seller, _ = seed_vehicle(origin="domestic")
    transfer = await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer")
    await settled(transfer)
    assert "filed by the officer" in await rejected(
        transfer, "submit_document", actor=actor("seller", seller), kind="buyer_residence_proof", residence=QUALIFYING_RESIDENCE
    )
    status = await update(
        transfer, "submit_document", actor=officer_at(None), kind="buyer_residence_proof", residence=QUALIFYING_RESIDENCE
    )
    assert status["documents"][-1]["residence"] == QUALIFYING_RESIDENCE


async def test_an_origin_contradicting_the_category_is_rejected(client: Client, worker: Worker, now: datetime) -> None:
    data = numbering_input(year=now.year)
    data["vehicle"]["origin"] = "domestic"
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert status["state"] == "Rejected"
    assert "imported vehicles are imported, but vehicle.origin says this one is domestic" in status["rejection_reasons"]

    data = numbering_input("temporary_transit", year=now.year, kind="truck")
    data["vehicle"]["origin"] = "domestic"
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert status["state"] == "Rejected" and "temporary_transit vehicles are imported" in status["rejection_reasons"][0]
    assert status["clearing_customs"] == "tehran_west"


def _registry_vehicle(owner: str, *, origin: str | None = None, delivered: bool = False) -> str:
    """A VIN the registry knows without a plate (e.g. a delivered imported purchase)."""
    vin = new_vin()
    with session_scope() as session:
        session.add(Person(national_id=owner, full_name="مالک"))
        session.add(
            Vehicle(
                vin=vin,
                owner_national_id=owner,
                kind="passenger_car",
                production_year=2020,
                origin=origin,
                delivered_at=datetime.now(UTC) - timedelta(days=30) if delivered else None,
            )
        )
    return vin


async def test_the_registrys_origin_wins_over_the_input(client: Client, worker: Worker, now: datetime) -> None:
    """An auction car the input calls domestic but the registry records imported: the customs
    documents are asked, not the factory sale document (seed 004 auction 8)."""
    data = numbering_input("auction", year=now.year - 3)
    data["vehicle"]["origin"] = "domestic"
    data["vin"] = _registry_vehicle(data["owner"]["national_id"], origin="imported")
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert status["state"] == "Open", status["rejection_reasons"]
    assert status["registry_facts"]["origin"] == "imported"
    assert "customs_documents" in status["checklist"] and "factory_sale_document" not in status["checklist"]
    note = [h for h in status["history"] if h["event"] == "checklist_adjusted"][0]
    assert note["added"] == ["customs_documents"] and note["waived"] == ["factory_sale_document"]

    # An imported category the registry records domestic.
    data = numbering_input(year=now.year)
    data["vin"] = _registry_vehicle(data["owner"]["national_id"], origin="domestic")
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert status["state"] == "Rejected" and "the registry records this one is domestic" in status["rejection_reasons"][0]


async def test_a_private_importer_contradicts_an_imported_purchases_delivery(
    client: Client, worker: Worker, now: datetime
) -> None:
    data = numbering_input(year=now.year, importer={"type": "private"})
    data["vin"] = _registry_vehicle(data["owner"]["national_id"], delivered=True)
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert status["state"] == "Rejected" and "importer private contradicts it" in status["rejection_reasons"][0]
    assert status["importer"] == {"type": "private", "company_id": None}
    assert status["registry_facts"] == {"numbered_before": False, "origin": "imported", "imported_purchase": True}

    data = numbering_input(year=now.year, importer={"type": "authorised_company", "company_id": "IMP-7"})
    data["vin"] = _registry_vehicle(data["owner"]["national_id"], delivered=True)
    status = await settled(await start(client, worker, "VehicleNumbering", data, "numbering"))
    assert status["state"] == "Open" and "kardex" in status["checklist"]
    assert status["importer"] == {"type": "authorised_company", "company_id": "IMP-7"}


def test_a_delivery_records_the_vehicle_as_imported() -> None:
    from activities.import_purchase import DeliveryRecord, record_delivery

    owner, vin, at = new_national_id(), new_vin(), datetime.now(UTC)
    with session_scope() as session:
        session.add(Person(national_id=owner, full_name="خریدار"))
    record = DeliveryRecord(
        workflow_id=f"ip-{vin}",
        national_id=owner,
        vin=vin,
        model="X",
        at=at,
        title_transfer_locked_until=at + timedelta(days=365),
    )
    assert record_delivery(record) == []
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.origin == "imported"


def test_a_domestic_delivery_is_not_an_imported_purchase() -> None:
    """A DomesticOrder delivers too (origin domestic): the registry's facts do not call it imported."""
    from activities.plates import NumberingCheck, check_numbering_facts

    vin, owner = new_vin(), new_national_id()
    with session_scope() as session:
        session.add(Person(national_id=owner, full_name="خریدار"))
        session.flush()
        session.add(Vehicle(vin=vin, owner_national_id=owner, origin="domestic", delivered_at=datetime.now(UTC)))
    facts = check_numbering_facts(NumberingCheck(workflow_id=f"n-{vin}", vin=vin, owner_national_id=owner))
    assert facts.origin == "domestic" and facts.imported_purchase is False


@pytest.mark.parametrize("category", ["auction", "veteran"])
async def test_a_category_any_centre_numbers_carries_no_centre_list(
    client: Client, worker: Worker, now: datetime, category: str
) -> None:
    extra: dict[str, Any] = {"veteran_card_percent": 70} if category == "veteran" else {}
    data = numbering_input(category, year=now.year - 1, **extra)
    handle = await start(client, worker, "VehicleNumbering", data, "numbering")
    status = await settled(handle)
    assert status["state"] == "Open" and status["centres"] is None, status["rejection_reasons"]
    status = await update(handle, "inspect", actor=officer_at("kashan"), passed=True)  # any centre
    assert status["inspection"]["passed"] is True


async def test_a_legacy_vehicle_of_unknown_origin_gets_it_from_the_officer(client: Client, worker: Worker) -> None:
    """A vehicle recorded before the registry kept origins: the officer states it; an imported
    car then needs no factory sale document, and the transfer records the origin."""
    vin, seller, _ = seed_vehicle(origin=None)
    handle = await start(client, worker, "PlateTransfer", transfer_input(vin, seller), "transfer")
    status = await settled(handle)
    assert "vehicle_origin" in status["checklist"] and "factory_sale_document" in status["checklist"]
    assert "filed by the officer" in await rejected(
        handle, "submit_document", actor=actor("seller", seller), kind="vehicle_origin", origin="imported"
    )
    assert "origin" in await rejected(handle, "submit_document", actor=officer_at(None), kind="vehicle_origin")
    status = await update(
        handle, "submit_document", actor=officer_at(None), kind="vehicle_origin", reference="customs 123", origin="imported"
    )
    assert "factory_sale_document" not in status["checklist"] and status["stated_origin"] == "imported"
    assert status["history"][-1]["event"] == "checklist_adjusted" and status["history"][-1]["waived"] == ["factory_sale_document"]
    message = await rejected(
        handle, "submit_document", actor=officer_at(None), kind="vehicle_origin", reference="r", origin="domestic"
    )
    assert message.endswith("the officer stated the vehicle's origin already (imported)")  # would drop the factory document
    status = await complete_checklist(handle, actor("seller", seller))
    await update(handle, "consent", actor=actor("seller", seller))
    for party in ("seller", "buyer"):
        status = await update(handle, "confirm_presence", actor=officer_at(None), party=party)
    assert status["state"] == "AwaitingFee", status["missing"]
    status = await update(
        handle, "pay_plate_fee", actor=BANK, payment_ref=f"TR-{handle.id[-30:]}", amount_rial=status["fee_rial"]
    )
    assert status["state"] == "Transferred"
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and vehicle.origin == "imported"


async def test_no_centres_loaded_alerts_operators_and_the_case_waits_for_them(
    client: Client, worker: Worker, now: datetime
) -> None:
    """Right after a migration, before ``refdata load``: the lookup fails transiently, operators
    are alerted (search attribute and outbox), and the case goes on once the centres are loaded."""
    import asyncio

    from sqlalchemy import delete, select

    from registry.models import NumberingCentre, OutboxMessage
    from registry.refdata import DEFAULT_REFDATA, load_refdata_file
    from workflows.common import CASE_ALERT

    with session_scope() as session:
        session.execute(delete(NumberingCentre))
    try:
        handle = await start(client, worker, "VehicleNumbering", numbering_input(year=now.year), "numbering")
        for _ in range(600):
            if (await handle.describe()).typed_search_attributes.get(CASE_ALERT):
                break
            await asyncio.sleep(0.1)
        assert (await handle.describe()).typed_search_attributes.get(CASE_ALERT) == "find_numbering_centres"
        status = await handle.query("status")
        assert status["state"] == "Open" and not status["eligibility_checked"]
    finally:
        load_refdata_file(DEFAULT_REFDATA)
    status = await settled(handle)
    assert status["state"] == "Open" and status["centres"] == ["bandar_abbas", "isfahan", "meysam", "tabriz"]
    assert (await handle.describe()).typed_search_attributes.get(CASE_ALERT) is None
    with session_scope() as session:
        alerts = session.scalars(
            select(OutboxMessage).where(OutboxMessage.workflow_id == handle.id, OutboxMessage.kind == "alert")
        ).all()
    assert alerts and all("find_numbering_centres" in a.text for a in alerts)


def test_refdata_keeps_one_historic_centre_and_one_centre_per_customs_office() -> None:
    from sqlalchemy import delete, select

    from registry.models import NumberingCentre
    from registry.refdata import load_refdata

    def centre(centre_id: str, kinds: list[str], customs: list[str] | None = None) -> dict[str, Any]:
        return {
            "centre_id": centre_id,
            "name_fa": "مرکز آزمایشی",
            "province": "تهران",
            "provincial_capital": True,
            "kinds": kinds,
            "customs_offices": customs or [],
        }

    with pytest.raises(ValueError, match="historic cars are numbered at one centre"):
        load_refdata({"numbering_centres": [centre("second_historic", ["historic"])]})
    with pytest.raises(ValueError, match="customs office tehran_west has one nearest numbering centre"):
        load_refdata({"numbering_centres": [centre("west_too", ["temporary_transit"], ["tehran_west"])]})
    with session_scope() as session:  # both refused loads rolled back
        ids = set(session.scalars(select(NumberingCentre.centre_id)))
    assert not {"second_historic", "west_too"} & ids
    # A centre stops numbering when loaded with no kinds (a load never removes an entry).
    load_refdata({"numbering_centres": [centre("retired_centre", [])]})
    try:
        from activities.plates import CentreQuery, find_numbering_centres

        assert "retired_centre" not in find_numbering_centres(CentreQuery(category="imported"))
    finally:
        with session_scope() as session:
            session.execute(delete(NumberingCentre).where(NumberingCentre.centre_id == "retired_centre"))


def test_a_restricted_categorys_centres_beyond_the_bound_are_refused_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    from temporalio.exceptions import ApplicationError

    from activities.plates import REFERENCE_DATA_MISSING, CentreQuery, find_numbering_centres
    from domain import policy

    monkeypatch.setattr(policy, "MAX_CENTRES_CARRIED", 3)
    with pytest.raises(ApplicationError) as err:
        find_numbering_centres(CentreQuery(category="imported"))  # four shipped centres number imported cars
    assert (
        err.value.type == REFERENCE_DATA_MISSING and not err.value.non_retryable and "more than a case carries" in str(err.value)
    )
    assert find_numbering_centres(CentreQuery(category="historic")) == ["shahrak_azmayesh"]


async def test_a_services_proof_of_residence_is_the_officers_too(client: Client, worker: Worker) -> None:
    vin, owner, _ = seed_vehicle()
    data = {"service": "lost_or_stolen_plates", "vin": vin, "owner": {"national_id": owner, "full_name": "مالک"}}
    service = await start(client, worker, "PlateService", data, "service")
    await settled(service)
    assert "filed by the officer" in await rejected(
        service, "submit_document", actor=actor("owner", owner), kind="residence_proof", residence=QUALIFYING_RESIDENCE
    )
    status = await update(
        service, "submit_document", actor=officer_at(None), kind="residence_proof", residence=QUALIFYING_RESIDENCE
    )
    assert status["documents"][-1]["residence"] == QUALIFYING_RESIDENCE
    assert [h for h in status["history"] if h["event"] == "submit_document"][-1]["residence"] == QUALIFYING_RESIDENCE
