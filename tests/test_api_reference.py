"""The published API reference is the code's own rendering."""

from domain.commands import ENVELOPE
from lifecycles.api_reference import ERRORS, PAGE, call_argument, error_types, field_rows, render, workflow_classes
from lifecycles.charts import MACHINES


def test_published_api_reference_matches_the_code() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), "docs/api.md is stale: run python -m lifecycles.api_reference"


def test_every_public_workflow_type_is_documented() -> None:
    # Reconciliation and FuelCharge are started by their schedules, never by a service.
    assert set(workflow_classes()) - {"Reconciliation", "FuelCharge"} == {workflow_type for workflow_type, _, _ in MACHINES}


def test_every_error_type_raised_is_described() -> None:
    assert set(ERRORS) == error_types()


def test_tables_list_every_field_but_the_envelope() -> None:
    for cls in workflow_classes().values():
        if not hasattr(cls, "_check"):
            continue
        models = [call_argument(cls.__init__, "parse_start", 0), *call_argument(cls._check, "check", 2).values()]
        for model in models:
            top = [row[0].strip("`") for row in field_rows(model) if "." not in row[0] and "[]" not in row[0]]
            assert top == [name for name in model.model_fields if name not in ENVELOPE], model.__qualname__
