"""The contract's CLI commands, run as operators run them: ``python starter.py ...`` in a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from activities.registry import Notification, send_notification
from registry.db import session_scope
from registry.models import Goods, Vehicle
from settings import PROJECT_ROOT
from tests.helpers import new_national_id


def starter(database: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "starter.py", *args],
        cwd=PROJECT_ROOT,
        env=dict(os.environ, DATABASE_URL=database),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_rates_set_records_the_rate(database: str) -> None:
    starter(database, "rates", "set", "EUR", "654321", "--effective-at", "2019-06-01T00:00:00Z")
    rows = [json.loads(line) for line in starter(database, "rates", "list").splitlines()]
    assert {"currency": "EUR", "rial_per_unit": "654321.0000", "effective_at": "2019-06-01T00:00:00Z"} in rows


def test_refdata_load_replaces_entries_with_the_same_key(database: str, tmp_path: Path) -> None:
    path = tmp_path / "refdata.json"
    path.write_text(
        json.dumps(
            {
                "veteran_car_tariffs": [{"code": "87039999", "permits": ["MIMT"], "expert_review": True}],
                "goods": [{"goods_id": "G-CLI-1", "tariff_code": "87039999", "has_agency": False}],
                "foreign_sellers": [{"type": "company", "id": "CLI-1", "name": "CLI GmbH"}],
                "escrow_banks": ["cli-bank"],
            }
        )
    )
    starter(database, "refdata", "load", str(path))
    path.write_text(json.dumps({"goods": [{"goods_id": "G-CLI-1", "tariff_code": "87039999", "has_agency": True}]}))
    starter(database, "refdata", "load", str(path))
    shown = json.loads(starter(database, "refdata", "show"))
    assert {
        "code": "87039999",
        "permits": ["MIMT"],
        "expert_review": True,
        "priority_group": None,
        "ministry_priced": False,
        "currency_sources": [],
    } in shown["veteran_car_tariffs"]
    assert "cli-bank" in shown["escrow_banks"]
    with session_scope() as session:
        goods = session.get(Goods, "G-CLI-1")
        assert goods is not None and goods.has_agency is True


def test_outbox_prints_one_json_object_a_line_newest_last(database: str) -> None:
    person = new_national_id()
    now = datetime.now(UTC)
    send_notification(Notification("wf-cli", "sms-1", person, "sms_code", "کد انصراف: 123456", now, code="123456"))
    send_notification(Notification("wf-cli", "invite-1", person, "invitation", "دعوت‌نامه", now))
    send_notification(Notification("wf-cli", "sms-1", person, "sms_code", "a retry sends nothing new", now, code="999999"))
    lines = [json.loads(line) for line in starter(database, "outbox", "--to", person).splitlines()]
    assert [(m["to"], m["kind"], m.get("code")) for m in lines] == [(person, "sms_code", "123456"), (person, "invitation", None)]
    assert lines[0]["text"] == "کد انصراف: 123456"


def test_vehicle_prints_the_registry_record(database: str) -> None:
    owner = new_national_id()
    with session_scope() as session:
        session.add(
            Vehicle(
                vin="NAAM0CLI000000001",
                owner_national_id=owner,
                plate="12ب345-67",
                title_transfer_locked_until=datetime(2027, 11, 1, tzinfo=UTC),
            )
        )
    record = json.loads(starter(database, "vehicle", "NAAM0CLI000000001"))
    assert record["vin"] == "NAAM0CLI000000001" and record["owner_national_id"] == owner
    assert record["plate"] == "12ب345-67" and record["title_transfer_locked_until"] == "2027-11-01T00:00:00Z"


def test_help_lists_every_lifecycle(database: str) -> None:
    text = starter(database, "--help")
    for name in ("trade-order", "purchase", "plates", "rates", "refdata", "outbox", "vehicle", "status", "update", "list"):
        assert name in text
