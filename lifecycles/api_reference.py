"""The public API reference, rendered from the code so the docs cannot drift.

``python -m lifecycles.api_reference`` rewrites ``docs/api.md``; a test fails when the page on
disk differs from what the code renders now. What a service sends is read from the code itself:
each workflow's start model (the ``parse_start`` call in its ``__init__``), who may give each
update (the roles its ``Case`` gets), each update's model (its ``_check``), the fields and limits
from pydantic's JSON schema, the states from the machine's transitions, the error types from the
``ApplicationError`` raised in ``workflows/`` and ``activities/``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
import textwrap
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from statemachine import StateMachine
from temporalio import workflow

import workflows
from domain.commands import ENVELOPE, Command
from lifecycles.charts import MACHINES

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "api.md"

REFUSED = "Refused"
"""The ``CaseState`` and ``status.state`` of a case whose start was refused (``Case.refusal``)."""

ERRORS: dict[str, str] = {
    "Rejected": "The command may not be applied: not allowed in the current state, a role or subject that may not give it, "
    "invalid fields, or a refusal of the registry. The message says why; the case is unchanged (unless a plate case ends "
    "`Rejected` because the vehicle changed).",
    "Unauthenticated": "The actor token proves nothing (missing, untrusted key, expired, another workflow, command or "
    "namespace, already used) or `actor` differs from the token. For a start: the workflow fails and the case is `Refused`.",
    "InvalidInput": "A start whose input cannot make a case: the workflow fails and the case is `Refused` "
    "(`status.reason` says why).",
    "DuplicateCaseId": "A start reusing the workflow id of an earlier case: the workflow fails, the registry is untouched.",
    "WrongCode": "`withdraw` with a wrong SMS code: the attempt is counted, the update fails.",
    "VehicleChanged": "Internal to plate cases: the vehicle changed in the registry since the case's check; the case ends "
    "`Rejected` and the update fails with `Rejected`.",
    "Exhausted": "The 8-digit order-number space is used up: the update fails.",
    "ActivityFailed": "A step of the update failed without a typed reason: the update fails, the case is unchanged.",
    "InternalError": "An unexpected error in an update handler: the update fails, the case is unchanged.",
    "NoRate": "Retried, never returned: no EUR rate is recorded yet, so the fee quote waits (operators get an alert).",
    "ReferenceDataMissing": "Retried, never returned: reference data a case needs (the numbering centres) is missing or "
    "more than a case carries; the case waits with a `CaseAlert` and an operator alert until `refdata load` fixes it.",
    "NoTrustedKeys": "Retried, never returned: the worker trusts no actor keys; a start then ends `Refused` with "
    "`Unauthenticated`.",
    "AuditRowsUnreadable": "Retried, never returned: the worker cannot read the audit rows an activity carries (a worker "
    "of another build on the task queue); the case waits with a `CaseAlert` until every worker runs one build.",
}
"""What every ``ApplicationError`` type the code raises means to a caller (the test checks the keys)."""


# --- reading the code ---


def workflow_classes() -> dict[str, type]:
    """Every workflow class in ``workflows/``, by workflow type."""
    found: dict[str, type] = {}
    for info in sorted(pkgutil.iter_modules(workflows.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"workflows.{info.name}")
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                defn = workflow._Definition.from_class(cls)
                if defn is not None:
                    found[str(defn.name)] = cls
    return found


def call_argument(fn: Any, callee: str, index: int) -> Any:
    """The object passed as positional argument ``index`` of the first call to ``callee`` in
    ``fn``'s source (``rules.COMMANDS[update]`` gives ``rules.COMMANDS``)."""
    namespace = vars(sys.modules[fn.__module__])
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
        if isinstance(node, ast.Call) and _name(node.func) == callee:
            arg = node.args[index]
            return _resolve(arg.value if isinstance(arg, ast.Subscript) else arg, namespace)
    raise LookupError(f"{fn.__qualname__} does not call {callee}()")


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_resolve(node.value, namespace), node.attr)
    raise LookupError(f"cannot resolve {ast.unparse(node)}")


def status_fields(cls: type) -> list[str]:
    """The keys a workflow's ``status`` adds to the case's own (its ``out.update(...)`` call)."""
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(cls.status)))):  # type: ignore[attr-defined]
        if isinstance(node, ast.Call) and _name(node.func) == "update":
            return [f"`{k.arg}`" if k.arg else f"those of `{ast.unparse(k.value)}`" for k in node.keywords]
    return []


def error_types() -> set[str]:
    """Every ``ApplicationError`` type written in ``workflows/`` and ``activities/``."""
    found: set[str] = set()
    for package in ("workflows", "activities"):
        for path in sorted((ROOT / package).glob("*.py")):
            module = importlib.import_module(f"{package}.{path.stem}")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and _name(node.func) == "ApplicationError":
                    for kw in node.keywords:
                        if kw.arg == "type":
                            found |= _strings(kw.value, vars(module))
    return found


def _strings(node: ast.expr, namespace: dict[str, Any]) -> set[str]:
    # A literal, a constant's name, or either in ``cause.type or "ActivityFailed"``; computed types
    # (a database error's class, retried) are not the API.
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name) and isinstance(namespace.get(node.id), str):
        return {namespace[node.id]}
    if isinstance(node, ast.BoolOp):
        return set().union(*(_strings(v, namespace) for v in node.values))
    return set()


def transitions(machine: type[StateMachine], event: str) -> str:
    """Where ``event`` is accepted and where it leads, guards named."""
    found = [t for state in machine.states for t in state.transitions if t.match(event)]
    open_states = {s.id for s in machine.states if not s.final}
    targets = {t.target.id for t in found}
    if {t.source.id for t in found} == open_states and len(targets) == 1 and not any(list(t.cond) for t in found):
        return f"any open state → `{targets.pop()}`"
    # Sources that lead to the same place under the same guards share one entry.
    steps: dict[tuple[str, str], list[str]] = {}
    for t in found:
        stays = t.internal or t.target is t.source
        guards = " and ".join(f"`{c}`" if c.expected_value else f"not `{c}`" for c in t.cond)
        step = (" (stays)" if stays else f" → `{t.target.id}`", f" if {guards}" if guards else "")
        steps.setdefault(step, []).append(f"`{t.source.id}`")
    return "; ".join(", ".join(sources) + step + guard for (step, guard), sources in steps.items())


# --- JSON schema to table rows ---


def field_rows(model: type[BaseModel], skip: frozenset[str] = ENVELOPE) -> list[tuple[str, str, str, str]]:
    """(field, type, required, limits) of every field, nested objects as ``a.b`` and ``a[].b``."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    rows: list[tuple[str, str, str, str]] = []

    def walk(obj: dict[str, Any], prefix: str) -> None:
        required = set(obj.get("required", []))
        for name, raw in obj.get("properties", {}).items():
            if not prefix and name in skip:
                continue
            prop, nullable = _unwrap(raw, defs)
            default = f" (default `{_json(prop['default'])}`)" if prop.get("default") not in (None, Ellipsis) else ""
            rows.append(
                (
                    f"`{prefix}{name}`",
                    _type(prop, defs) + (" or null" if nullable else ""),
                    "required" if name in required else "optional" + default,
                    _limits(prop),
                )
            )
            items = _unwrap(prop["items"], defs)[0] if prop.get("type") == "array" and "items" in prop else None
            if "properties" in prop:
                walk(prop, f"{prefix}{name}.")
            elif items is not None and "properties" in items:
                walk(items, f"{prefix}{name}[].")

    walk(schema, "")
    return rows


def _unwrap(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property with its ``$ref`` resolved and an ``X or null`` reduced to ``X`` (nullable)."""
    if "$ref" in prop:
        prop = {**defs[prop["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in prop.items() if k != "$ref"}}
    branches = prop.get("anyOf", [])
    if {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        outer = {k: v for k, v in prop.items() if k != "anyOf"}
        inner = _unwrap(rest[0], defs)[0] if len(rest) == 1 else {"anyOf": rest}
        return {**outer, **inner}, True
    return prop, False


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(f"`{_json(v)}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{_json(prop['const'])}`"
    if "anyOf" in prop:
        return " or ".join(_type(_unwrap(b, defs)[0], defs) for b in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return "list of " + _type(_unwrap(prop.get("items", {}), defs)[0], defs)
    if kind == "object" and "properties" not in prop:
        return "object (any keys)"
    return f"{kind} ({prop['format']})" if "format" in prop else kind


_BOUNDS = [
    (("minimum", "ge"), "≥"),
    (("exclusiveMinimum", "gt"), ">"),
    (("maximum", "le"), "≤"),
    (("exclusiveMaximum", "lt"), "<"),
]


def _limits(prop: dict[str, Any]) -> str:
    out = []
    low, high = prop.get("minLength"), prop.get("maxLength")
    if low is not None or high is not None:
        out.append(f"{low or 0}–{high} characters" if high is not None else f"at least {low} characters")
    for keys, sign in _BOUNDS:
        for key in keys:
            if key in prop:
                out.append(f"{sign} {_number(prop[key])}")
    if "pattern" in prop:
        out.append(f"pattern `{prop['pattern']}`")
    if "maxItems" in prop:
        out.append(f"at most {prop['maxItems']} items")
    if "minItems" in prop:
        out.append(f"at least {prop['minItems']} items")
    if "decimal_places" in prop:
        out.append(f"at most {prop['decimal_places']} decimals")
    if "max_digits" in prop:
        out.append(f"at most {prop['max_digits']} digits")
    if prop.get("type") == "array" and _limits(prop.get("items", {})):
        out.append(f"each {_limits(prop['items'])}")
    for branch in prop.get("anyOf", []):
        if _limits(branch):
            out.append(f"as {_type(branch, {})}: {_limits(branch)}")
    return ", ".join(out)


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else str(value)


def _json(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def field_table(model: type[BaseModel], skip: frozenset[str] = ENVELOPE) -> list[str]:
    rows = field_rows(model, skip)
    if not rows:
        return ["No fields beyond the envelope.", ""]
    lines = ["| field | type | required | limits |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


# --- the page ---


HEADER = """# API reference

Generated from the code by `python -m lifecycles.api_reference`; `tests/test_api_reference.py`
fails when this page is stale. States and transitions are drawn in [statecharts.md](statecharts.md);
who may start a case and the trust model are in the [README](../README.md#trust-who-may-act-and-who-may-read).

Every workflow runs on the task queue `vehicle-lifecycles` (setting `TEMPORAL_TASK_QUEUE`). A start
input and every update argument is one JSON object; unknown fields are refused. Limits are those
pydantic's schema states; some fields are checked further (a national id's checksum, a VIN's
spelling, a bank's payment reference), and a refusal names the field that is wrong.

## The envelope

Every start input and update argument also carries these fields (left out of the tables below):
"""

RESULTS = """## Update results

An update returns a compact result (`Case.outcome` in `workflows/common.py`), not the whole status:

| key | meaning |
|---|---|
| `state` | the state after the command (as `CaseState`) |
| `state_fa` | its Persian label |
| `allowed` | the updates the case accepts now (guards evaluated) |
| `events` | the transitions the command made, each as a `history` entry |
| any other key | a `status` field the command changed, with its new value |

A `history` entry is `{"from", "to", "event", "at" (ISO-8601 UTC), "actor": {"role", "id", "jti"}}`
plus the event's own keys (`{"role": "system", "id": <workflow type>}` for timers and activities).

## The `status` query

Every workflow answers the query `status` (no argument) with `state`, `state_fa`, `allowed` and
`history` (every transition so far) plus the lifecycle's fields listed below. A case whose start
was refused answers `{"state": "Refused", "state_fa", "reason", "allowed": [], "history": []}`.

## The `CaseState` search attribute

A `Keyword` on every case: its current state (the values are listed per workflow), or `Refused`.
It holds no personal data; filter with e.g. `CaseState = 'AwaitingFee'`.

## Errors

Failures reach the client as `ApplicationError` with one of these types (an update's failure leaves
no trace in the case when its validator refuses it):

| type | meaning |
|---|---|
"""


def render() -> str:
    raised = error_types()
    missing, unused = raised - set(ERRORS), set(ERRORS) - raised
    if missing or unused:
        raise LookupError(f"ERRORS is stale: describe {sorted(missing)}, drop {sorted(unused)}")
    parts = [HEADER] + field_table(Command, frozenset())
    parts.append(RESULTS + "\n".join(f"| `{name}` | {text} |" for name, text in ERRORS.items()) + "\n")
    classes = workflow_classes()
    for workflow_type, machine, title in MACHINES:
        parts += render_workflow(workflow_type, machine, title, classes[workflow_type])
    return "\n".join(parts)


def render_workflow(workflow_type: str, machine: type[StateMachine], title: str, cls: type) -> list[str]:
    init = vars(cls)["__init__"]
    start = call_argument(init, "parse_start", 0)
    roles: dict[str, frozenset[str]] = call_argument(init, "Case", 1)
    models: dict[str, type[Command]] = call_argument(cls._check, "check", 2)  # type: ignore[attr-defined]
    defn = workflow._Definition.must_from_class(cls)
    if not set(roles) == set(models) == set(defn.updates):
        updates = sorted(str(name) for name in defn.updates)
        raise LookupError(f"{workflow_type}: updates {updates}, roles {sorted(roles)}, models {sorted(models)}")
    out = [
        f"## {workflow_type}: {title}\n",
        f"Workflow class `{cls.__module__}.{cls.__qualname__}`; queries: "
        + ", ".join(f"`{q}`" for q in sorted(str(name) for name in defn.queries))
        + ".\n",
        f"### Start input (`{start.__module__}.{start.__qualname__}`)\n",
        *field_table(start),
        "### Updates\n",
        "| update | who may give it | accepted in | argument |",
        "|---|---|---|---|",
    ]
    for name, who in roles.items():
        model = models[name]
        out.append(
            f"| `{name}` | {', '.join(f'`{r}`' for r in sorted(who))} | {transitions(machine, name)} | `{model.__qualname__}` |"
        )
    out.append("")
    for name in roles:
        model = models[name]
        out.append(f"#### `{workflow_type}.{name}`\n")
        description = model.model_json_schema().get("description") if model is not Command else None
        if description:
            out.append(" ".join(description.replace("``", "`").split()) + "\n")
        out += field_table(model)
    out.append("### `status` fields\n")
    out.append("Beside `state`, `state_fa`, `allowed`, `history`: " + ", ".join(status_fields(cls)) + ".\n")
    out.append("### `CaseState` values\n")
    out.append(", ".join(f"`{s.id}`" for s in machine.states) + f", `{REFUSED}`.\n")
    return out


if __name__ == "__main__":
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE}\n")
