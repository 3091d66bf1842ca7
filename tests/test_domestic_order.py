"""DomesticScheme and DomesticOrder (seed 000): registration with the deposit, the default 1403
priority, change windows at their Tehran edges, cancel-and-choose with the turn kept, withdrawal by
SMS code (switched off and on), restoration with the same turn, and the two schemes' exclusion."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import policy
from domain.display import iso
from lifecycles import domestic_order as rules
from lifecycles.domestic_order import Window, tehran_midnight, window_open
from registry.db import session_scope
from registry.domestic_models import DomesticOrder, DomesticYearTurn
from registry.models import EscrowDeposit, NewCarPurchase, Person, SchemeRegistration, Vehicle
from tests.helpers import actor, new_national_id, rejected, signed, start, update
from tests.recorded import replays_now
from tests.test_import_purchase_support import (  # noqa: F401 - env, worker and close_cases are fixtures
    _open_cases,
    begin,
    close_cases,
    env,
    instant,
    last_code,
    new_vin,
    outbox,
    release_deadline,
    wait_for,
    wait_state,
    worker,
)
from workflows.domestic_order import DomesticOrderWorkflow, DomesticSchemeWorkflow

OPERATOR = actor("operator", "op-domestic")
DEPOSIT = 1_000_000_000
OFFERINGS = [
    {"model": "Dena Plus", "delivery_year": 1403},
    {"model": "Peugeot 207", "delivery_year": 1403},
    {"model": "Tara", "delivery_year": 1402},
    {"model": "Tara", "delivery_year": 1403},
    {"model": "Rana", "delivery_year": 1402},
]


# --- pure rules: the windows' Tehran edges, the seed's days ---


def test_the_seeds_change_window_edges_in_tehran_time() -> None:
    (first, after) = policy.DOMESTIC_CHANGE_WINDOW_EXAMPLE
    opens, closes = tehran_midnight(*first), tehran_midnight(*after)
    # 5 Ordibehesht 1402 00:00 Tehran is 24 April 2023 20:30 UTC; «یکشنبه دهم اردیبهشت ساعت 24» ends at 11 Ordibehesht 00:00.
    assert opens == datetime(2023, 4, 24, 20, 30, tzinfo=UTC)
    assert closes == datetime(2023, 4, 30, 20, 30, tzinfo=UTC)
    assert closes.astimezone(opens.tzinfo).weekday() == 0 and (closes - timedelta(seconds=1)).weekday() == 6  # Sunday's end
    windows = [Window(opens, closes, restored_only=False)]
    tick = timedelta(microseconds=1)
    assert not window_open(windows, opens - tick, restored=False)
    assert window_open(windows, opens, restored=False)
    assert window_open(windows, closes - tick, restored=False)
    assert not window_open(windows, closes, restored=False)


def test_the_restored_applicants_window_is_theirs_alone() -> None:
    (first, after) = policy.DOMESTIC_RESTORED_WINDOW_EXAMPLE
    opens, closes = tehran_midnight(*first), tehran_midnight(*after)
    assert (closes - timedelta(seconds=1)).astimezone(opens.tzinfo).weekday() == 4  # «جمعه مصادف هشتم اردیبهشت»
    windows = [Window(opens, closes, restored_only=True)]
    tick = timedelta(microseconds=1)
    assert window_open(windows, closes - tick, restored=True)
    assert not window_open(windows, closes - tick, restored=False)
    assert not window_open(windows, closes, restored=True)
    assert not window_open(windows, opens - tick, restored=True)


def test_choices_must_be_offered_for_their_year() -> None:
    assert rules.choice_problem(OFFERINGS, "Rana", 1402) is None
    assert "offered for delivery in 1403, not 1402" in (rules.choice_problem(OFFERINGS, "Dena Plus", 1402) or "")
    assert "not offered" in (rules.choice_problem(OFFERINGS, "Samand", 1403) or "")


# --- cases ---


def order_input(scheme_id: str, nid: str, choice: dict[str, Any] | None = None, **deposit: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scheme_id": scheme_id,
        "applicant": {"national_id": nid, "full_name": "مهدی کاظمی"},
        "deposit": {"bank": "mellat", "account": f"ESC-{nid}", "amount_rial": DEPOSIT, **deposit},
    }
    if choice is not None:
        body["choice"] = choice
    return body


async def new_scheme(client: Client, worker: Worker, **overrides: Any) -> tuple[WorkflowHandle, str]:
    scheme_id = f"domestic-{uuid.uuid4().hex[:10]}"
    body = {"scheme_id": scheme_id, "deposit_rial": DEPOSIT, "offerings": OFFERINGS, **overrides}
    handle = await start(client, worker, "DomesticScheme", body, "dscheme", by=OPERATOR)
    _open_cases.append(handle)
    await wait_for(handle, lambda s: s.get("recorded"))
    return handle, scheme_id


async def new_order(
    client: Client, worker: Worker, scheme_id: str, nid: str | None = None, choice: dict[str, Any] | None = None, **deposit: Any
) -> tuple[WorkflowHandle, str, dict[str, Any]]:
    nid = nid or new_national_id()
    handle = await start(
        client, worker, "DomesticOrder", order_input(scheme_id, nid, choice, **deposit), "dorder", by=actor("applicant", nid)
    )
    _open_cases.append(handle)
    status = await wait_state(handle, "Ordered", "Ineligible")
    return handle, nid, status


async def open_window(
    scheme: WorkflowHandle, env: WorkflowEnvironment, window_id: str = "w1", *, restored_only: bool = False, **shift: Any
) -> dict[str, Any]:
    now = await env.get_current_time()
    opens = now + shift.get("opens_in", timedelta(hours=-1))
    closes = now + shift.get("closes_in", timedelta(days=5))
    return await update(
        scheme,
        "open_change_window",
        actor=OPERATOR,
        window_id=window_id,
        opens=iso(opens),
        closes=iso(closes),
        restored_only=restored_only,
    )


def order_row(workflow_id: str) -> DomesticOrder:
    with session_scope() as session:
        row = session.get(DomesticOrder, workflow_id)
        assert row is not None
        session.expunge(row)
        return row


def registration_open(workflow_id: str) -> bool:
    with session_scope() as session:
        row = session.get(SchemeRegistration, workflow_id)
        return row is not None and row.open


def deposit_status(workflow_id: str) -> str:
    with session_scope() as session:
        row = session.get(EscrowDeposit, workflow_id)
        assert row is not None
        return row.status


async def test_no_choice_gets_the_1403_priority_and_turns_follow_registration(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    first, _, status = await new_order(client, worker, scheme_id)
    assert status["state"] == "Ordered"
    assert status["priority"] == {"model": None, "delivery_year": 1403, "chosen": False}
    assert status["turn"] == 1
    event = status["history"][-1]
    assert event["event"] == "found_eligible" and event["default_priority"] is True
    second, _, status = await new_order(client, worker, scheme_id, choice={"model": "Rana", "delivery_year": 1402})
    assert status["priority"] == {"model": "Rana", "delivery_year": 1402, "chosen": True} and status["turn"] == 2
    assert order_row(first.id).delivery_year == 1403 and order_row(first.id).model is None
    assert order_row(second.id).model == "Rana"
    assert deposit_status(first.id) == "blocked" and registration_open(first.id)


async def test_a_start_for_an_unknown_scheme_or_an_unoffered_car_is_refused(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    for scheme, choice, reason in (
        ("no-such-scheme", None, "no domestic scheme"),
        (scheme_id, {"model": "Dena Plus", "delivery_year": 1402}, "offered for delivery in 1403, not 1402"),
    ):
        nid = new_national_id()
        handle = await start(
            client, worker, "DomesticOrder", order_input(scheme, nid, choice), "dorder", by=actor("applicant", nid)
        )
        status = await wait_state(handle, "Refused")
        assert reason in status["reason"]
        with session_scope() as session:
            assert session.get(EscrowDeposit, handle.id) is None  # a refused start writes nothing


async def test_the_deposit_must_be_at_an_approved_bank_and_large_enough(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    handle, _, status = await new_order(client, worker, scheme_id, bank="no-such-bank", amount_rial=DEPOSIT - 1)
    assert status["state"] == "Ineligible"
    reasons = " ".join(status["ineligible_reasons"])
    assert "approved escrow bank" in reasons and f"at least {DEPOSIT}" in reasons
    status = await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    assert deposit_status(handle.id) == "released" and not registration_open(handle.id)


async def test_cancel_and_choose_again_keep_the_turn_only_inside_a_window(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    scheme, scheme_id = await new_scheme(client, worker)
    await new_order(client, worker, scheme_id)
    handle, nid, status = await new_order(client, worker, scheme_id, choice={"model": "Dena Plus", "delivery_year": 1403})
    me = actor("applicant", nid)
    turn = status["turn"]
    assert turn == 2

    message = await rejected(handle, "cancel_order", actor=me)
    assert "no change window is open" in message
    await open_window(scheme, env, opens_in=timedelta(hours=2))  # not yet open
    assert "no change window is open" in await rejected(handle, "cancel_order", actor=me)
    await env.sleep(timedelta(hours=2))  # the window's first instant has come
    status = await update(handle, "cancel_order", actor=me)
    assert status["state"] == "Cancelled" and status["turn"] == turn
    assert status["priority"] == {"model": None, "delivery_year": 1403, "chosen": False}  # no choice: 1403 (seed 000)
    assert order_row(handle.id).status == "cancelled" and order_row(handle.id).turn == turn

    # A choice names an offered car for its year; the low-demand models are offered for 1402.
    assert "not offered" in await rejected(handle, "choose", actor=me, model="Samand", delivery_year=1403)
    assert "invalid input" in await rejected(handle, "choose", actor=me, model="Rana", delivery_year=1401)
    status = await update(handle, "choose", actor=me, model="Tara", delivery_year=1402)
    assert status["state"] == "Ordered" and status["turn"] == turn and status["changes"] == 1
    assert status["priority"] == {"model": "Tara", "delivery_year": 1402, "chosen": True}
    row = order_row(handle.id)
    assert (row.status, row.model, row.delivery_year, row.turn) == ("ordered", "Tara", 1402, turn)
    # A change is open for cars due in 1403 only.
    assert "only for orders due in 1403" in await rejected(handle, "cancel_order", actor=me)
    # Someone else may not act on the order.
    stranger = actor("applicant", new_national_id())
    assert "only the registered applicant" in await rejected(handle, "cancel_order", actor=stranger)

    # The operator closes the window: no more changes.
    other, other_nid, _ = await new_order(client, worker, scheme_id)
    await update(scheme, "close_change_window", actor=OPERATOR, window_id="w1")
    assert "no change window is open" in await rejected(other, "cancel_order", actor=actor("applicant", other_nid))
    assert "no window w9" in await rejected(scheme, "close_change_window", actor=OPERATOR, window_id="w9")


async def test_withdrawal_switched_off_is_refused_saying_so(client: Client, worker: Worker) -> None:
    scheme, scheme_id = await new_scheme(client, worker)
    handle, nid, _ = await new_order(client, worker, scheme_id)
    me = actor("applicant", nid)
    await update(handle, "request_withdrawal_code", actor=me)
    code = last_code(handle.id)

    status = await update(scheme, "switch_withdrawal", actor=OPERATOR, enabled=False, reason="mistaken withdrawals")
    assert status["withdrawal_enabled"] is False
    assert "already switched off" in await rejected(scheme, "switch_withdrawal", actor=OPERATOR, enabled=False)
    assert "switched off" in await rejected(handle, "withdraw", actor=me, code=code)
    assert "switched off" in await rejected(handle, "request_withdrawal_code", actor=me)
    status = await handle.query("status")
    assert status["withdrawal_code_attempts_left"] == policy.WITHDRAWAL_CODE_MAX_ATTEMPTS  # no attempt was spent
    assert status["state"] == "Ordered" and registration_open(handle.id)

    await update(scheme, "switch_withdrawal", actor=OPERATOR, enabled=True)
    status = await update(handle, "withdraw", actor=me, code=code)
    assert status["state"] == "Withdrawn"


def accepted_updates(events: list[Any]) -> int:
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in events)


async def told(scheme: WorkflowHandle, *orders: WorkflowHandle) -> int:
    """Wait until the stage has told its orders of its last change and each holds that version."""
    version = (await wait_for(scheme, lambda s: s["orders_told_version"] == s["controls_version"]))["controls_version"]
    for order in orders:
        await wait_for(order, lambda s: s["controls_version"] is not None and s["controls_version"] >= version)
    return int(version)


async def test_orders_judge_the_stages_changes_in_their_validators_leaving_no_history(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    """Issue 11: the stage tells its orders each change of its controls; a change or a withdrawal
    the controls refuse is refused before anything is recorded."""
    scheme, scheme_id = await new_scheme(client, worker)
    handle, nid, status = await new_order(client, worker, scheme_id)
    me = actor("applicant", nid)
    assert status["controls_version"] == 0  # read when the order opened: no window yet
    before = accepted_updates((await handle.fetch_history()).events)
    assert "no change window is open" in await rejected(handle, "cancel_order", actor=me)

    await open_window(scheme, env, closes_in=timedelta(days=2))
    assert await told(scheme, handle) == 1
    await update(scheme, "switch_withdrawal", actor=OPERATOR, enabled=False)
    assert await told(scheme, handle) == 2
    assert "switched off" in await rejected(handle, "request_withdrawal_code", actor=me)
    await update(scheme, "close_change_window", actor=OPERATOR, window_id="w1")
    await told(scheme, handle)
    assert "no change window is open" in await rejected(handle, "cancel_order", actor=me)
    await open_window(scheme, env, "w2", opens_in=timedelta(hours=1), closes_in=timedelta(hours=3))
    await told(scheme, handle)
    assert "no change window is open" in await rejected(handle, "cancel_order", actor=me)
    assert accepted_updates((await handle.fetch_history()).events) == before  # every refusal left no trace

    await env.sleep(timedelta(hours=1))  # the carried window opens on its instant, no telling needed
    assert (await update(handle, "cancel_order", actor=me))["state"] == "Cancelled"
    assert (await handle.query("status"))["controls_version"] == (await scheme.query("status"))["controls_version"]

    # Switched on again, told: the code may be asked for.
    await update(scheme, "switch_withdrawal", actor=OPERATOR, enabled=True)
    await told(scheme, handle)
    assert (await update(handle, "request_withdrawal_code", actor=me))["state"] == "Cancelled"
    await replays_now([DomesticSchemeWorkflow, DomesticOrderWorkflow], scheme, handle)


async def test_orders_learn_their_turn_within_the_year_after_a_recompute(client: Client, worker: Worker) -> None:
    scheme, scheme_id = await new_scheme(client, worker)
    first, _, _ = await new_order(client, worker, scheme_id, choice={"model": "Tara", "delivery_year": 1402})
    second, _, _ = await new_order(client, worker, scheme_id)
    third, _, _ = await new_order(client, worker, scheme_id, choice={"model": "Rana", "delivery_year": 1402})
    await update(scheme, "close_registration", actor=OPERATOR)
    await update(scheme, "freeze", actor=OPERATOR)
    await update(scheme, "recompute_turns", actor=OPERATOR)
    await told(scheme, first, second, third)
    year_turns = [(await wait_for(h, lambda s: s["year_turn"] is not None))["year_turn"] for h in (first, second, third)]
    assert year_turns == [1, 1, 2]  # 1402: first, third; 1403: second


async def wrong_code(handle: WorkflowHandle, nid: str, code: str) -> str:
    try:
        await handle.execute_update(
            "withdraw", await signed(handle, "withdraw", {"actor": actor("applicant", nid), "code": code})
        )
    except WorkflowUpdateFailedError as err:
        assert err.cause is not None
        return err.cause.message
    raise AssertionError("a wrong code was accepted")


async def test_withdrawal_leaves_the_list_frees_the_deposit_and_bars_a_new_order_this_stage(
    client: Client, worker: Worker
) -> None:
    _, scheme_id = await new_scheme(client, worker)
    handle, nid, _ = await new_order(client, worker, scheme_id)
    me = actor("applicant", nid)
    assert "request a withdrawal code first" in await rejected(handle, "withdraw", actor=me, code="123456")
    status = await update(handle, "request_withdrawal_code", actor=me)
    code = last_code(handle.id)
    sms = outbox(handle.id, "sms_code")[-1]
    assert sms.to == nid and code in sms.text and "خودروهای داخلی" in sms.text
    assert code not in json.dumps(status, ensure_ascii=False)
    assert code not in json.dumps((await handle.fetch_history()).to_json_dict())

    message = await wrong_code(handle, nid, f"{(int(code) + 1) % 10**6:06d}")
    assert f"{policy.WITHDRAWAL_CODE_MAX_ATTEMPTS - 1} attempt" in message
    assert (await handle.query("status"))["state"] == "Ordered"

    status = await update(handle, "withdraw", actor=me, code=code)
    assert status["state"] == "Withdrawn" and status["restore_until"]
    assert order_row(handle.id).status == "withdrawn" and not registration_open(handle.id)
    status = await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    assert instant(status["deposit_release_deadline"]) == release_deadline(instant(status["withdrawn_at"]))
    assert deposit_status(handle.id) == "released"
    assert outbox(handle.id, "sms_code")[-1].code is None  # a used code is erased

    # No new order in this stage; the next stage's registration is open to them.
    _, _, again = await new_order(client, worker, scheme_id, nid=nid)
    assert again["state"] == "Ineligible" and any("no new order" in r for r in again["ineligible_reasons"])
    _, next_stage = await new_scheme(client, worker)
    _, _, next_order = await new_order(client, worker, next_stage, nid=nid)
    assert next_order["state"] == "Ordered" and next_order["turn"] == 1


async def test_a_mistaken_withdrawal_is_restored_with_the_same_turn(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    scheme, scheme_id = await new_scheme(client, worker)
    handle, nid, status = await new_order(client, worker, scheme_id, choice={"model": "Peugeot 207", "delivery_year": 1403})
    other, other_nid, _ = await new_order(client, worker, scheme_id)
    me = actor("applicant", nid)
    turn = status["turn"]
    await update(handle, "request_withdrawal_code", actor=me)
    await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    # Later registrations never take the withdrawn turn: «سهمیه این افراد به کسی داده نخواهد شد».
    _, _, later = await new_order(client, worker, scheme_id)
    assert later["turn"] == turn + 2

    assert "role 'applicant' may not" in await rejected(handle, "restore", actor=me, reason="by mistake")
    status = await update(handle, "restore", actor=OPERATOR, reason="withdrew by mistake meaning to change car")
    assert status["state"] == "Ordered" and status["turn"] == turn and status["restored"] == 1
    assert status["priority"] == {"model": "Peugeot 207", "delivery_year": 1403, "chosen": True}
    assert order_row(handle.id).status == "ordered" and order_row(handle.id).restored
    assert registration_open(handle.id) and deposit_status(handle.id) == "blocked"

    # A window for the restored alone: they may change, the others may not.
    await open_window(scheme, env, "restored", restored_only=True)
    assert "no change window is open" in await rejected(other, "cancel_order", actor=actor("applicant", other_nid))
    status = await update(handle, "cancel_order", actor=me)
    assert status["state"] == "Cancelled" and status["turn"] == turn


async def test_a_restoration_is_refused_once_the_person_registered_elsewhere(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    handle, nid, _ = await new_order(client, worker, scheme_id)
    me = actor("applicant", nid)
    await update(handle, "request_withdrawal_code", actor=me)
    await update(handle, "withdraw", actor=me, code=last_code(handle.id))
    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    _, next_stage = await new_scheme(client, worker)
    await new_order(client, worker, next_stage, nid=nid)
    message = await rejected(handle, "restore", actor=OPERATOR, reason="by mistake")
    assert "registered in another sale scheme since" in message
    assert deposit_status(handle.id) == "released"


async def test_one_open_registration_across_the_import_and_domestic_schemes(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    # Registered in the domestic scheme: the import scheme refuses them.
    _, nid, status = await new_order(client, worker, scheme_id)
    assert status["state"] == "Ordered"
    purchase, _ = await begin(client, worker, nid)
    status = await purchase.query("status")
    assert status["state"] == "Ineligible"
    assert any("another sale scheme" in r for r in status["ineligible_reasons"])  # the import round's batch names no scheme
    # Holding an import registration: the domestic scheme refuses them.
    purchase, import_nid = await begin(client, worker)
    assert (await purchase.query("status"))["state"] == "Eligible"
    _, _, status = await new_order(client, worker, scheme_id, nid=import_nid)
    assert status["state"] == "Ineligible"
    assert any("another sale scheme" in r for r in status["ineligible_reasons"])


async def test_a_holder_of_an_import_rank_may_not_register(client: Client, worker: Worker) -> None:
    from registry.scheme_models import ImportScheme, SchemeApplicant

    _, scheme_id = await new_scheme(client, worker)
    nid = new_national_id()
    import_scheme = f"import-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    with session_scope() as session:
        session.add(
            ImportScheme(
                scheme_id=import_scheme, registration_opens=now, registration_closes=now, deposit_rial=policy.ESCROW_DEPOSIT_RIAL
            )
        )
        session.flush()
        session.add(
            SchemeApplicant(
                scheme_id=import_scheme,
                workflow_id=f"purchase-{uuid.uuid4()}",
                code=uuid.uuid4().hex[:16],
                national_id=nid,
                declared_driving_license=True,
                bank="mellat",
                status="eligible",
                registered_at=now,
            )
        )
    _, _, status = await new_order(client, worker, scheme_id, nid=nid)
    assert status["state"] == "Ineligible"
    assert any("import scheme registration or rank" in r for r in status["ineligible_reasons"])
    with session_scope() as session:
        assert session.scalar(select(DomesticOrder.workflow_id).where(DomesticOrder.national_id == nid)) is None


async def test_profile_edits_inquire_the_licence_and_keep_the_youth_population_flag(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    handle, nid, _ = await new_order(client, worker, scheme_id)
    me = actor("applicant", nid)
    status = await update(handle, "edit_profile", actor=me)
    assert status["has_driving_license"] is None and status["license_inquired_at"]  # the registry has no licence record
    with session_scope() as session:
        person = session.get(Person, nid)
        assert person is not None
        person.has_driving_license = True  # the licence registry answers now
    status = await update(handle, "edit_profile", actor=me, youth_population=True)
    assert status["has_driving_license"] is True and status["youth_population"] is True
    row = order_row(handle.id)
    assert row.has_driving_license is True and row.youth_population is True
    status = await update(handle, "edit_profile", actor=me)  # an edit without the flag keeps it
    assert status["youth_population"] is True
    assert "invalid input" in await rejected(handle, "edit_profile", actor=me, youth_population="yes")


async def test_a_delivery_is_in_the_registry_for_the_import_schemes_48_month_rule(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    handle, nid, _ = await new_order(client, worker, scheme_id, choice={"model": "Tara", "delivery_year": 1402})
    vin = new_vin()
    assert "role 'applicant' may not" in await rejected(handle, "deliver", actor=actor("applicant", nid), vin=vin, model="Tara")
    assert "the order is for Tara, not Rana" in await rejected(handle, "deliver", actor=OPERATOR, vin=vin, model="Rana")
    status = await update(handle, "deliver", actor=OPERATOR, vin=vin, model="Tara")
    assert status["state"] == "Delivered" and status["vin"] == vin
    with session_scope() as session:
        vehicle = session.get(Vehicle, vin)
        assert vehicle is not None and (vehicle.owner_national_id, vehicle.origin, vehicle.model) == (nid, "domestic", "Tara")
        assert session.scalar(select(NewCarPurchase.vin).where(NewCarPurchase.workflow_id == handle.id)) == vin
    assert order_row(handle.id).status == "delivered" and not registration_open(handle.id)
    await wait_for(handle, lambda s: s["deposit_released_at"] is not None)
    # The import scheme sees the new car: no registration within 48 months.
    purchase, _ = await begin(client, worker, nid)
    status = await purchase.query("status")
    assert status["state"] == "Ineligible"
    assert any("new car was bought" in r and "within the last 48 months" in r for r in status["ineligible_reasons"])

    # With no car chosen, the delivered car is one the stage offers for 1403.
    other, _, _ = await new_order(client, worker, scheme_id)
    assert "not offered for delivery in 1403" in await rejected(other, "deliver", actor=OPERATOR, vin=new_vin(), model="Rana")
    taken = await rejected(other, "deliver", actor=OPERATOR, vin=vin, model="Dena Plus")
    assert "already registered to another vehicle" in taken


async def test_after_the_window_the_frozen_stage_recomputes_turns_per_year(
    client: Client, worker: Worker, env: WorkflowEnvironment
) -> None:
    scheme, scheme_id = await new_scheme(client, worker)
    a, _, _ = await new_order(client, worker, scheme_id)
    b, b_nid, _ = await new_order(client, worker, scheme_id, choice={"model": "Dena Plus", "delivery_year": 1403})
    c, _, _ = await new_order(client, worker, scheme_id, choice={"model": "Tara", "delivery_year": 1402})
    d, d_nid, _ = await new_order(client, worker, scheme_id, choice={"model": "Tara", "delivery_year": 1403})
    e, e_nid, _ = await new_order(client, worker, scheme_id, choice={"model": "Peugeot 207", "delivery_year": 1403})
    await open_window(scheme, env)
    await update(b, "cancel_order", actor=actor("applicant", b_nid))
    await update(b, "choose", actor=actor("applicant", b_nid), model="Rana", delivery_year=1402)
    await update(d, "request_withdrawal_code", actor=actor("applicant", d_nid))
    await update(d, "withdraw", actor=actor("applicant", d_nid), code=last_code(d.id))

    assert "not allowed in state Registering" in await rejected(scheme, "freeze", actor=OPERATOR)
    await update(scheme, "close_registration", actor=OPERATOR)
    status = await update(scheme, "freeze", actor=OPERATOR)
    assert status["state"] == "Reviewing"
    message = await rejected(e, "cancel_order", actor=actor("applicant", e_nid))
    assert "closed for the review of turns" in message  # the window is open, the stage is not
    status = await update(scheme, "recompute_turns", actor=OPERATOR)
    assert status["year_turns"] == {"1402": 2, "1403": 2}
    with session_scope() as session:
        published = {
            row.workflow_id: (row.delivery_year, row.year_turn)
            for row in session.scalars(select(DomesticYearTurn).where(DomesticYearTurn.scheme_id == scheme_id))
        }
    turns = {h.id: published.get(h.id, (order_row(h.id).delivery_year, None)) for h in (a, b, c, d, e)}
    # Those who switched to a low-demand model hold 1402 turns, in the stage's turn order.
    assert turns == {a.id: (1403, 1), b.id: (1402, 1), c.id: (1402, 2), d.id: (1403, None), e.id: (1403, 2)}
    await update(scheme, "reopen", actor=OPERATOR)
    status = await update(e, "cancel_order", actor=actor("applicant", e_nid))
    assert status["state"] == "Cancelled"
    await replays_now([DomesticSchemeWorkflow, DomesticOrderWorkflow], scheme, b, d, e)


async def test_an_operator_abort_leaves_the_list_and_frees_what_the_order_holds(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    handle, _, _ = await new_order(client, worker, scheme_id)
    assert "invalid input" in await rejected(handle, "abort", actor=OPERATOR)  # a reason is required
    status = await update(handle, "abort", actor=OPERATOR, reason="duplicate registration found by review")
    assert status["state"] == "Aborted"
    assert order_row(handle.id).status == "aborted" and not registration_open(handle.id)
    assert deposit_status(handle.id) == "released"


async def test_a_window_closes_at_its_last_instant(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    scheme, scheme_id = await new_scheme(client, worker)
    first, first_nid, _ = await new_order(client, worker, scheme_id)
    second, second_nid, _ = await new_order(client, worker, scheme_id)
    await open_window(scheme, env, "short", closes_in=timedelta(hours=1))
    status = await update(first, "cancel_order", actor=actor("applicant", first_nid))
    assert status["state"] == "Cancelled"
    await env.sleep(timedelta(hours=1))  # ``closes`` is the first instant after the window
    assert "no change window is open" in await rejected(second, "cancel_order", actor=actor("applicant", second_nid))
    assert "no change window is open" in await rejected(
        first, "choose", actor=actor("applicant", first_nid), model="Rana", delivery_year=1402
    )


async def test_an_expired_code_is_refused(client: Client, worker: Worker, env: WorkflowEnvironment) -> None:
    _, scheme_id = await new_scheme(client, worker)
    handle, nid, _ = await new_order(client, worker, scheme_id)
    me = actor("applicant", nid)
    await update(handle, "request_withdrawal_code", actor=me)
    code = last_code(handle.id)
    await env.sleep(policy.WITHDRAWAL_CODE_TTL)
    message = await rejected(handle, "withdraw", actor=me, code=code)
    assert "expired" in message or "request a withdrawal code first" in message
    assert (await handle.query("status"))["state"] == "Ordered"


async def test_two_registrations_of_one_person_at_once_open_one_order(client: Client, worker: Worker) -> None:
    _, scheme_id = await new_scheme(client, worker)
    _, other_scheme = await new_scheme(client, worker)
    nid = new_national_id()
    handles = [
        await start(client, worker, "DomesticOrder", order_input(scheme, nid), "dorder", by=actor("applicant", nid))
        for scheme in (scheme_id, scheme_id, other_scheme)
    ]
    _open_cases.extend(handles)
    states = [(await wait_state(h, "Ordered", "Ineligible"))["state"] for h in handles]
    assert sorted(states) == ["Ineligible", "Ineligible", "Ordered"]
    with session_scope() as session:
        open_rows = session.scalars(
            select(SchemeRegistration).where(SchemeRegistration.national_id == nid, SchemeRegistration.open.is_(True))
        ).all()
        assert len(open_rows) == 1


async def test_the_demo_runs_a_change_a_mistaken_withdrawal_and_its_restoration(database: str) -> None:
    """``demo.domestic_order.run`` on a server of its own (its tokens are minted by the wall clock)."""
    import settings
    from demo import domestic_order as demo
    from security.codec import data_converter
    from worker import build_worker, ensure_search_attributes

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=settings.find_binary("temporal-test-server"), data_converter=data_converter()
    ) as environment:
        await ensure_search_attributes(environment.client, "default")
        async with build_worker(environment.client, settings.TEMPORAL_TASK_QUEUE):
            lines = await demo.run(environment.client)
    text = "\n".join(lines)
    assert "DomesticOrder Delivered (VIN " in text and "after it Ordered: cancelled and chose Tara for 1402" in text
    assert "DomesticScheme Ordering after its review (turns per year 1403: 2)" in text
    assert "DomesticOrder Withdrawn by mistake, restored by the operator → Ordered" in text
    assert (
        "the 1403 priority; withdrawal while switched off: request_withdrawal_code: withdrawal from the scheme is switched off"
        in text
    )
