"""``starter.py scheme``: an import scheme's round — open it with a committed lottery seed, draw,
publish and verify the ranks (seed 001 «طبق قرعه»).

The seed is the operator's secret until the draw: ``open`` draws 32 random bytes, keeps them in a
file only the operator can read (``--seed-file``) and starts the ``ImportScheme`` case with their
SHA-256 alone, which the scheme publishes when it opens. ``draw`` reveals the seed to the case
after the eligibility batch. ``ranks`` writes the publication (codes and ranks, no personal data);
``verify`` recomputes the draw from a publication alone (``lifecycles.lottery``).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import typer

from cli.common import console, print_status, run, send_update, start_case
from lifecycles import lottery
from registry.db import PROJECT_ROOT

app = typer.Typer(no_args_is_help=True, help="Import scheme: window, eligibility batch, verifiable lottery (قرعه‌کشی).")


def workflow_id_of(scheme_id: str) -> str:
    return f"import-scheme-{scheme_id}"


def default_seed_file(scheme_id: str) -> Path:
    return PROJECT_ROOT / ".data" / f"scheme-{scheme_id}.seed"


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner alone; refuse to overwrite (a seed is committed once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


@app.command("open")
def open_scheme(
    scheme_id: str,
    operator: str = typer.Option("op-1", help="the operator account starting the case"),
    seed_file: Path | None = typer.Option(None, help="where the secret seed is kept (default .data/scheme-ID.seed)"),
) -> None:
    """Commit a fresh lottery seed and start the scheme's case (its timers open and close the window)."""
    from cli.common import connect

    path = seed_file or default_seed_file(scheme_id)
    seed = secrets.token_hex(32)
    try:
        write_secret(path, seed)
    except FileExistsError:
        raise typer.BadParameter(f"{path} exists: a seed for this scheme was made already") from None
    commitment = lottery.commitment(seed)

    async def go() -> str:
        client = await connect()
        payload = {"scheme_id": scheme_id, "seed_commitment": commitment}
        return await start_case(
            client, "ImportScheme", payload, workflow_id_of(scheme_id), "Scheduled", "طرح واردات خودرو", by=("operator", operator)
        )

    workflow_id = run(go())
    console.print(f"{workflow_id}\nseed commitment (publish it): {commitment}\nseed kept in {path} (secret until the draw)")


@app.command()
def draw(
    scheme_id: str,
    operator: str = typer.Option("op-1", help="the operator account"),
    seed_file: Path | None = typer.Option(None, help="the seed file ``open`` wrote"),
) -> None:
    """Reveal the seed after the eligibility batch: every eligible registration gets its rank."""
    seed = (seed_file or default_seed_file(scheme_id)).read_text().strip()
    result = run(send_update(workflow_id_of(scheme_id), "draw", {"actor": {"role": "operator", "id": operator}, "seed": seed}))
    if result is not None:
        print_status(workflow_id_of(scheme_id), result)


def publication_of(scheme_id: str) -> dict[str, Any]:
    from activities.import_scheme import published_draw
    from registry.db import session_scope

    with session_scope() as session:
        return published_draw(session, scheme_id)


@app.command()
def ranks(
    scheme_id: str,
    out: Path | None = typer.Option(None, help="write the publication (JSON) here"),
    top: int = typer.Option(20, help="ranks to print"),
) -> None:
    """The published ranking: registration codes by rank, the seed, its commitment, the list's digest."""
    from temporalio.exceptions import ApplicationError

    try:
        published = publication_of(scheme_id)
    except ApplicationError as err:
        console.print(f"[red]error:[/red] {err.message}")
        raise typer.Exit(1) from None
    if out is not None:
        out.write_text(json.dumps(published, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        console.print(f"written {out}")
    for key in ("scheme_id", "algorithm", "seed_commitment", "seed", "list_digest", "committed_at", "drawn_at"):
        console.print(f"{key}: {published.get(key)}")
    console.print(f"eligible: {len(published['eligible'])}")
    for rank, code in enumerate(published["ranks"][:top], start=1):
        console.print(f"{rank:>8}  {code}")


@app.command()
def verify(
    publication: Path | None = typer.Argument(None, help="a publication written by `scheme ranks --out`"),
    scheme_id: str | None = typer.Option(None, "--scheme", help="verify the registry's publication of this scheme instead"),
) -> None:
    """Recompute the draw from the published seed and eligible list; exit 1 naming any difference."""
    if (publication is None) == (scheme_id is None):
        raise typer.BadParameter("give a publication file or --scheme, one of them")
    published = publication_of(scheme_id) if scheme_id else json.loads(publication.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    problems = lottery.verify(published)
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/red] {problem}")
        raise typer.Exit(1)
    console.print(
        f"[green]✓[/green] {len(published['ranks'])} ranks of {published['scheme_id']} verify (seed, commitment, list, order)"
    )


@app.command()
def rank(scheme_id: str, code: str) -> None:
    """The rank the draw gave one registration code (what an applicant looks up with their code)."""
    from sqlalchemy import select

    from registry.db import session_scope
    from registry.scheme_models import SchemeRank

    with session_scope() as session:
        found = session.scalar(
            select(SchemeRank.rank).where(SchemeRank.scheme_id == scheme_id, SchemeRank.code == code.strip().upper())
        )
    if found is None:
        console.print(f"[red]no rank[/red] for code {code} in {scheme_id} (not drawn, or not eligible)")
        raise typer.Exit(1)
    console.print(f"{scheme_id} {code.strip().upper()}: rank {found}")


# --- offerings (seed 001 «نحوه عرضه خودروهای وارداتی») ---

offering_app = typer.Typer(no_args_is_help=True, help="An importer's offering to the ranked applicants (عرضه).")
app.add_typer(offering_app, name="offering")


def offering_workflow_id(offering_id: str) -> str:
    return f"import-offering-{offering_id}"


@offering_app.command("propose")
def propose_offering(
    offering: str = typer.Argument(
        ...,
        help='the proposal as JSON (or - for stdin): {"offering_id", "scheme_id", "importer_id", "model", "specs", "seats", '
        '"delivery_due", "base_price_rial", "pre_customs_costs_rial", "estimated_final_costs_rial", "opens", "closes"}',
    ),
) -> None:
    """The importer (its id is the token's subject) proposes an offering; an operator approves it."""
    from cli.common import connect, parse_json_arg

    payload = parse_json_arg(offering)
    offering_id, importer = str(payload.get("offering_id", "")), str(payload.get("importer_id", ""))
    if not offering_id or not importer:
        raise typer.BadParameter("offering_id and importer_id are required")

    async def go() -> str:
        client = await connect()
        return await start_case(
            client,
            "ImportOffering",
            payload,
            offering_workflow_id(offering_id),
            "Proposed",
            "عرضه خودروی وارداتی",
            by=("importer", importer),
        )

    console.print(run(go()))


@offering_app.command("approve")
def approve_offering(offering_id: str, operator: str = typer.Option("op-1", help="the operator account")) -> None:
    """Approve the proposal: the scheme's ranked applicants are told its terms and window."""
    wid = offering_workflow_id(offering_id)
    result = run(send_update(wid, "approve", {"actor": {"role": "operator", "id": operator}}))
    if result is not None:
        print_status(wid, result)


@offering_app.command("reject")
def reject_offering(
    offering_id: str,
    reason: str = typer.Option(..., help="why (kept in the case's history)"),
    operator: str = typer.Option("op-1", help="the operator account"),
) -> None:
    """Reject the proposal, giving a reason."""
    wid = offering_workflow_id(offering_id)
    result = run(send_update(wid, "reject", {"actor": {"role": "operator", "id": operator}, "reason": reason}))
    if result is not None:
        print_status(wid, result)


@offering_app.command("status")
def offering_status(
    offering_id: str, seats: int = typer.Option(10, help="seats to list (number, rank; no personal data)")
) -> None:
    """The offering's case (terms, window, applicants, buyers) and its first seats by number."""
    from sqlalchemy import select

    from cli.common import connect
    from registry.db import session_scope
    from registry.scheme_models import OfferingSeat

    wid = offering_workflow_id(offering_id)

    async def go() -> dict[str, Any]:
        client = await connect()
        result: dict[str, Any] = await client.get_workflow_handle(wid).query("status")
        return result

    print_status(wid, run(go()))
    with session_scope() as session:
        rows = session.execute(
            select(OfferingSeat.seat, OfferingSeat.rank, OfferingSeat.sign_by)
            .where(OfferingSeat.offering_id == offering_id)
            .order_by(OfferingSeat.seat)
            .limit(seats)
        ).all()
    for seat, rank, sign_by in rows:
        console.print(f"seat {seat:>6}  rank {rank if rank is not None else '— (free)'}  sign by {sign_by or '—'}")
