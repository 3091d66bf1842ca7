"""The domain rules page, rendered from the code so the docs cannot drift.

``python -m lifecycles.domain_reference`` rewrites ``docs/domain.md``; a test fails when the page
on disk differs from what the code renders now. It reads:

- every policy number in ``domain/policy.py``, its section (the ``# --- ... ---`` comment above
  it, naming the seed) and its docstring (the rule, the seed's words, or "our choice");
- each lifecycle module's docstring and the rule functions it documents (public functions whose
  docstring cites a seed or quotes it in «»);
- the plate checklists, every document with the seed item it comes from.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from lifecycles import (
    domestic_order,
    fuel_card,
    import_offering,
    import_purchase,
    import_scheme,
    lottery,
    plate_services,
    plates,
    residence,
    trade_order,
    trade_order_amendment,
)
from lifecycles.plates import Requirement

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "domain.md"
POLICY = ROOT / "domain" / "policy.py"

SEEDS: list[tuple[str, str]] = [
    ("000_a1c0c16ba933df50", "Domestic integrated sales order (سامانه یکپارچه فروش خودروهای داخلی); withdrawals"),
    ("001_f8898b590ca0d58d", "The imported-car scheme (طرح واردات خودرو): registration, purchase, delivery"),
    ("002_5f5d7fd182bbe256", "Fuel cards (کارت سوخت): issuance, quotas"),
    ("003_e31f3f46ba2dcbd4", "Trade-order registration of veterans' cars (ثبت سفارش خودروی جانبازان)"),
    ("004_deeca06ae7fe51fe", "Plate numbering, transfer and after-numbering services (شماره‌گذاری و خدمات پلاک)"),
]
"""The Persian source texts the rules come from, by the ids the code cites."""

LIFECYCLES: list[tuple[str, ModuleType]] = [
    ("TradeOrder", trade_order),
    ("TradeOrderAmendment", trade_order_amendment),
    ("ImportScheme", import_scheme),
    ("Lottery", lottery),
    ("ImportPurchase", import_purchase),
    ("DomesticScheme and DomesticOrder", domestic_order),
    ("VehicleNumbering and PlateTransfer", plates),
    ("PlateService", plate_services),
]
LIFECYCLES.append(("FuelCard", fuel_card))
LIFECYCLES.append(("ImportOffering", import_offering))

CITES_SEED = re.compile(r"seed \d{3}|«")
OURS = re.compile(r"\bour(s| choice| bound|s:)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class PolicyNumber:
    section: str
    name: str
    value: str
    rule: str


def policy_numbers(source: str) -> list[PolicyNumber]:
    """Every module-level constant of the policy module, in order, with its section and docstring."""
    sections = {
        n: m.group(1).strip() for n, line in enumerate(source.splitlines(), 1) if (m := re.match(r"# --- (.+?) ---", line))
    }
    body = ast.parse(source).body
    out: list[PolicyNumber] = []
    for node, after in zip(body, [*body[1:], None], strict=True):
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [n.id for t in targets for n in ([*t.elts] if isinstance(t, ast.Tuple) else [t]) if isinstance(n, ast.Name)]
        doc = ""
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            doc = inspect.cleandoc(after.value.value)
        heading = max((n for n in sections if n < node.lineno), default=None)
        value = ast.get_source_segment(source, node.value) if node.value is not None else ""
        out.append(PolicyNumber(sections[heading] if heading else "", ", ".join(names), _one_line(value or ""), _one_line(doc)))
    return out


def rule_functions(module: ModuleType) -> Iterator[tuple[str, str]]:
    """(name, first paragraph) of each public function of ``module`` whose docstring cites a seed."""
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if fn.__module__ != module.__name__ or name.startswith("_") or not fn.__doc__:
            continue
        doc = inspect.cleandoc(fn.__doc__)
        if CITES_SEED.search(doc):
            yield name, _markdown(_one_line(doc.split("\n\n")[0]))


def _applies(r: Requirement) -> str:
    return ", ".join(part for part in (r.only_for, f"unless {r.unless}" if r.unless else None) if part)


def checklists() -> Iterator[tuple[str, tuple[Requirement, ...]]]:
    for category, requirements in plates.NUMBERING_CHECKLISTS.items():
        yield f"Numbering, {category} ({plates.CATEGORY_LABELS[category]})", requirements
    yield "Transfer (تعویض پلاک و نقل و انتقال)", plates.TRANSFER_CHECKLIST
    for service, definition in plate_services.SERVICES.items():
        yield f"Service {service} ({definition.label_fa})", definition.documents


def render() -> str:
    parts = [
        "# Domain rules\n",
        "Generated from the code by `python -m lifecycles.domain_reference`; `tests/test_domain_reference.py`",
        "fails when this page is stale. Every rule cites the Persian seed it comes from; text in «» is the",
        'seed\'s own words. Where a seed is silent the project chose, and says so ("ours"). When a seed and',
        "the code disagree, the seed wins: the number is changed in `domain/policy.py` and nowhere else.\n",
        "## Seeds\n",
        "| seed | what it describes |",
        "|---|---|",
        *(f"| `{seed}` | {what} |" for seed, what in SEEDS),
        "",
        "## Lifecycles and their rules\n",
        "States and transitions: [statecharts.md](statecharts.md); commands and fields: [api.md](api.md).\n",
    ]
    for title, module in LIFECYCLES:
        parts.append(f"### {title}\n")
        parts.append(_paragraphs(inspect.getdoc(module) or ""))
        rules = list(rule_functions(module))
        if rules:
            parts.append("Rules (`" + module.__name__ + "`):\n")
            parts += [f"- `{name}`: {doc}" for name, doc in rules]
            parts.append("")
    parts.append("## Documents asked, by checklist\n")
    parts.append(
        "`only for` names the case tag a document depends on (e.g. `domestic`: made in Iran); "
        "`unless` a tag that waives it (e.g. `numbered_before`: the registry says the VIN had a plate).\n"
    )
    for title, requirements in checklists():
        parts.append(f"### {title}\n")
        parts += ["| document | label | seed item | only for |", "|---|---|---|---|"]
        parts += [f"| `{r.kind}` | {r.label_fa} | {r.seed_item} | {_applies(r)} |" for r in requirements]
        parts.append("")
    parts.append("## Proofs of residence (`lifecycles/residence.py`)\n")
    parts.append(_paragraphs(inspect.getdoc(residence) or ""))
    parts += ["| `residence.type` | label | needs | seed |", "|---|---|---|---|"]
    parts += [
        f"| `{kind}` | {r.label_fa} | {'never enough' if r.never else ', '.join([f'`{n}`' for n in r.needs] + ([f'`holder` = `{r.holder}`'] if r.holder else []))} | «{r.seed_words}» |"
        for kind, r in residence.RESIDENCE_PROOFS.items()
    ]
    parts.append("")
    parts.append("## Policy numbers (`domain/policy.py`)\n")
    section = None
    for number in policy_numbers(POLICY.read_text(encoding="utf-8")):
        if number.section != section:
            section = number.section
            parts += [f"### {section}\n", "| name | value | rule | source |", "|---|---|---|---|"]
        parts.append(f"| `{number.name}` | `{_cell(number.value)}` | {_cell(_markdown(number.rule))} | {_source(number)} |")
    return "\n".join(parts).rstrip() + "\n"


def _source(number: PolicyNumber) -> str:
    cited = sorted(set(re.findall(r"seed (\d{3})", number.rule + " " + number.section)))
    seeds = ", ".join(f"seed {s}" for s in cited)
    if OURS.search(number.rule):
        return f"{seeds}; ours" if seeds else "ours"
    return seeds


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(doc: str) -> str:
    """Docstring markup as Markdown: ``:func:`x``` and double backquotes become code spans."""
    return re.sub(r"``(.+?)``", r"`\1`", re.sub(r":\w+:`~?([^`]+)`", r"`\1`", doc))


def _paragraphs(doc: str) -> str:
    """A module docstring as Markdown: its paragraphs, lists kept."""
    return _markdown(doc.strip()) + "\n"


if __name__ == "__main__":
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE}\n")
