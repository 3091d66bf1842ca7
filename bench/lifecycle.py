"""Benchmark: full TradeOrder lifecycles against two bare baselines, in one run.

    python bench/lifecycle.py [-n 60] [-c 10] [-r 3] [--only KIND]

Starts its own dev server and a fresh SQLite registry, and one worker. Three kinds of case, each
driven Draft → Registered by the same client code (same updates, same JSON, a freshly minted
actor token per command, every payload AES-GCM encrypted, the start token verified by the same
activity):

- ``lifecycle``      the TradeOrder workflow;
- ``bare-same``      BenchBare (bench/bare.py) running the business activities plus the audit and
                     notification calls a lifecycle made, per update, as counted from the first
                     lifecycle's history: the same activities as the lifecycle runs;
- ``bare-business``  BenchBare with the business activities only (file number, document, rules
                     inquiry, fee quote, payment, order number; plus the token check and id claim
                     every case makes).

N cases of each kind run C at a time, split into R rounds; each round runs the kinds one after
another in a rotated order, so drift and noise fall on all three alike. Prints, per kind,
throughput and p50/p99 update latency (client side, minting the token included), the per-round
ratios, and last ``RATIO <lifecycle throughput / bare-business throughput>``.
``--only KIND`` runs one kind alone (for a profiler) and prints no RATIO.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("lifecycle", "bare-same", "bare-business")


async def run_cases(n: int, concurrency: int, one: Callable[[list[float]], Awaitable[None]]) -> tuple[float, list[float]]:
    """Run ``n`` cases, ``concurrency`` at a time; the seconds it took and every update's latency."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with gate:
            await one(latencies)

    began = time.perf_counter()
    await asyncio.gather(*(guarded() for _ in range(n)))
    return time.perf_counter() - began, latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def trust_material() -> tuple[Any, Any]:
    """A throw-away identity provider key and payload key, installed through the environment."""
    from security.codec import PayloadKeys
    from security.tokens import SigningKey, jwks_of

    folder = Path(tempfile.mkdtemp(prefix="bench-trust-"))
    key, payload_keys = SigningKey.generate(), PayloadKeys.generate()
    (folder / "jwks.json").write_text(json.dumps(jwks_of(key)))
    (folder / "payload.json").write_text(payload_keys.to_json())
    os.environ["ACTOR_JWKS_FILE"] = str(folder / "jwks.json")
    os.environ["PAYLOAD_KEYS_FILE"] = str(folder / "payload.json")
    return key, payload_keys


def activity_calls(events: Any) -> list[tuple[int, str, bool]]:
    """Every activity a history ran, in order: (update ordinal, 0 before the first; type; local?)."""
    calls: list[tuple[int, str, bool]] = []
    ordinal = 0
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind == "workflow_execution_update_accepted_event_attributes":
            ordinal += 1
        elif kind == "activity_task_scheduled_event_attributes":
            calls.append((ordinal, event.activity_task_scheduled_event_attributes.activity_type.name, False))
        elif kind == "marker_recorded_event_attributes":
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity" and "data" in marker.details:
                data = json.loads(marker.details["data"].payloads[0].data)
                calls.append((ordinal, data["activity_type"], True))
    return calls


def mirror_plan(calls: list[tuple[int, str, bool]], updates: int, transitions: int) -> dict[str, Any]:
    """What BenchBare must add to its business activities to run the lifecycle's activities.

    Audit rows are split evenly over the audit calls (a local activity's input is not in history).
    """
    from bench.bare import BUSINESS, MIRRORED, OPENING

    own = set(OPENING) | {name for names in BUSINESS.values() for name in names}
    plan: dict[str, Any] = {"open": [], "updates": [[] for _ in range(updates)]}
    extra = [(ordinal, name, local) for ordinal, name, local in calls if name not in own]
    unknown = {name for _, name, _ in extra} - MIRRORED
    if unknown:
        raise SystemExit(f"bench/bare.py cannot mirror the lifecycle's activities {sorted(unknown)}: teach BenchBare._mirror")
    audits = [i for i, (_, name, _) in enumerate(extra) if name not in ("send_notification", "send_notifications")]
    share, rest = divmod(max(transitions, len(audits)), max(1, len(audits)))
    for i, (ordinal, name, local) in enumerate(extra):
        step: dict[str, Any] = {"activity": name, "local": local}
        if i in audits:
            step["rows"] = share + (1 if audits.index(i) < rest else 0)
        (plan["open"] if ordinal == 0 else plan["updates"][ordinal - 1]).append(step)
    return plan


def describe_history(events: Any) -> str:
    """A case's history in events and bytes, and the events that are neither activities nor
    workflow tasks nor updates (markers, search attribute upserts, timers)."""
    kinds = Counter(event.WhichOneof("attributes") for event in events)
    size = sum(event.ByteSize() for event in events)
    other = {
        name.removesuffix("_event_attributes"): n
        for name, n in kinds.items()
        if not name.startswith(("activity_task_", "workflow_task_", "workflow_execution_update_", "workflow_execution_"))
    }
    extra = ", ".join(f"{name}×{n}" for name, n in sorted(other.items()))
    return f"{len(events)} events, {size / 1024:.0f} kB" + (f" ({extra})" if extra else "")


def describe_calls(calls: list[tuple[int, str, bool]]) -> str:
    counts = Counter((name, local) for _, name, local in calls)
    regular, local = sum(n for (_, lo), n in counts.items() if not lo), sum(n for (_, lo), n in counts.items() if lo)
    names = ", ".join(f"{name}{' (local)' if lo else ''}×{n}" for (name, lo), n in sorted(counts.items()))
    return f"{regular} activities + {local} local: {names}"


async def unit_costs(key: Any, payload_keys: Any, status: dict) -> tuple[float, float]:
    """Microseconds for one token verification and one encrypt+decrypt of a final status."""
    from temporalio.converter import DataConverter

    from security.codec import EncryptionCodec
    from security.tokens import TrustedKeys, jwks_of

    trusted = TrustedKeys(jwks_of(key))
    now = datetime.now(UTC)
    tokens = [
        key.mint(role="applicant", sub="0012345679", workflow_id="w", namespace="default", update="submit", now=now)
        for _ in range(500)
    ]
    began = time.perf_counter()
    for token in tokens:
        trusted.verify(token, namespace="default", workflow_id="w", update="submit", now=now)
    verify_us = (time.perf_counter() - began) / len(tokens) * 1e6
    codec = EncryptionCodec(payload_keys)
    payloads = DataConverter.default.payload_converter.to_payloads([status])
    began = time.perf_counter()
    for _ in range(500):
        await codec.decode(await codec.encode(payloads))
    return verify_us, (time.perf_counter() - began) / 500 * 1e6


async def main(n: int, concurrency: int, rounds: int, only: str | None) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/registry.sqlite3"
    key, payload_keys = trust_material()
    from temporalio.client import Client, WorkflowHandle
    from temporalio.testing import WorkflowEnvironment

    from bench.bare import BareWorkflow
    from demo.samples import trade_order_sections
    from domain.identity import with_check_digit
    from registry.db import migrate
    from registry.refdata import DEFAULT_REFDATA, load_refdata_file, set_rate
    from security.codec import data_converter
    from security.signer import ActorSigner
    from settings import find_binary
    from worker import ACTIVITIES, WORKFLOWS, build_worker
    from workflows.common import CASE_STATE

    migrate()
    load_refdata_file(DEFAULT_REFDATA)
    set_rate("EUR", Decimal("620000"), datetime(2020, 1, 1, tzinfo=UTC))
    serial = iter(range(200_000_001, 300_000_000))

    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=[CASE_STATE],
        dev_server_log_level="error",
        data_converter=data_converter(payload_keys),
    ) as env:
        client: Client = env.client
        signer = ActorSigner(key, client.namespace)
        task_queue = f"bench-{uuid.uuid4()}"
        worker = build_worker(client, task_queue, workflows=[*WORKFLOWS, BareWorkflow], activities=ACTIVITIES)
        learned: dict[str, Any] = {}  # permits and fee of the sample file; the mirror plan
        final: dict[str, Any] = {}
        by_update: dict[str, dict[str, list[float]]] = {kind: {} for kind in KINDS}
        """Each kind's update latencies by update name (and ``(end)``: from the last update to the result)."""

        async def timed(
            latencies: list[float], per_update: dict[str, list[float]], handle: WorkflowHandle, name: str, arg: dict
        ) -> dict:
            began = time.perf_counter()
            arg = await signer.command(handle.id, name, arg)  # minting is part of what a client pays
            result = await handle.execute_update(name, arg)
            latencies.append(time.perf_counter() - began)
            per_update.setdefault(name, []).append(latencies[-1])
            return result

        async def field(handle: WorkflowHandle, result: dict, name: str) -> Any:
            # Updates may return a compact result: then what the first case learned (same file, same rate).
            if name in result:
                return result[name]
            if name not in learned:
                learned[name] = (await handle.query("status"))[name]
            return learned[name]

        async def drive(latencies: list[float], workflow_type: str, extra: dict[str, Any]) -> WorkflowHandle:
            """One case Draft → Registered; the same client code for every kind."""
            nid = with_check_digit(str(next(serial)))
            me = {"role": "applicant", "id": nid}
            workflow_id = f"bench-{workflow_type}-{uuid.uuid4()}"
            per_update = by_update[
                "lifecycle" if workflow_type == "TradeOrder" else "bare-same" if extra.get("mirror") else "bare-business"
            ]
            applicant = {"national_id": nid, "full_name": "bench"}
            start = await signer.start(workflow_id, {"applicant": applicant, **extra}, role="applicant", sub=nid)
            handle = await client.start_workflow(workflow_type, start, id=workflow_id, task_queue=task_queue)
            for name, fields in trade_order_sections(date.today()).items():
                await timed(latencies, per_update, handle, name, {"actor": me, **fields})
            for name in ("submit", "inquire_rules", "request_permits"):
                result = await timed(latencies, per_update, handle, name, {"actor": me})
            for org in await field(handle, result, "permits"):
                await timed(
                    latencies,
                    per_update,
                    handle,
                    "decide_permit",
                    {"actor": {"role": "licensing_org", "id": org}, "approve": True},
                )
            result = await timed(latencies, per_update, handle, "request_registration", {"actor": me})
            fee = await field(handle, result, "fee_rial")
            pay = {"actor": {"role": "bank", "id": "b"}, "payment_ref": f"P-{workflow_id}", "amount_rial": fee}
            await timed(latencies, per_update, handle, "pay_fee", pay)
            ending = time.perf_counter()
            outcome = await handle.result()
            per_update.setdefault("(end)", []).append(time.perf_counter() - ending)
            if not (outcome.get("state") == "Registered" or outcome.get("order_number")):
                raise RuntimeError(f"{workflow_type} ended without an order: {outcome}")
            final.setdefault(workflow_type, outcome)
            return handle

        async def lifecycle(latencies: list[float]) -> None:
            await drive(latencies, "TradeOrder", {})

        async def bare_same(latencies: list[float]) -> None:
            await drive(latencies, "BenchBare", {"mirror": learned["plan"]})

        async def bare_business(latencies: list[float]) -> None:
            await drive(latencies, "BenchBare", {})

        runs = {"lifecycle": lifecycle, "bare-same": bare_same, "bare-business": bare_business}
        kinds = (only,) if only else KINDS
        async with worker:
            # Learn the lifecycle's shape from one case's history, and check the baselines match it.
            first: list[float] = []
            handle = await drive(first, "TradeOrder", {})
            events = (await handle.fetch_history()).events
            calls = activity_calls(events)
            transitions = len(final["TradeOrder"].get("history", []))
            learned["plan"] = mirror_plan(calls, len(first), transitions)
            shapes = {"lifecycle": f"{describe_history(events)}; {describe_calls(calls)}"}
            for kind, extra in (("bare-same", {"mirror": learned["plan"]}), ("bare-business", {})):
                events = (await (await drive([], "BenchBare", extra)).fetch_history()).events
                bare_calls = activity_calls(events)
                shapes[kind] = f"{describe_history(events)}; {describe_calls(bare_calls)}"
                if kind == "bare-same" and Counter(c[1:] for c in bare_calls) != Counter(c[1:] for c in calls):
                    print(f"WARNING: bare-same does not run the lifecycle's activities: {shapes[kind]}")
            for kind in kinds:  # warm-up at the measured concurrency
                await run_cases(min(concurrency, n), concurrency, runs[kind])
            elapsed = dict.fromkeys(kinds, 0.0)
            latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
            per_round: list[dict[str, float]] = []
            sizes = [n // rounds + (1 if r < n % rounds else 0) for r in range(rounds)]
            for r, size in enumerate(sizes):
                tput: dict[str, float] = {}
                for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                    seconds, lat = await run_cases(size, concurrency, runs[kind])
                    elapsed[kind] += seconds
                    latencies[kind] += lat
                    tput[kind] = size / seconds
                per_round.append(tput)

    print(f"per case: {len(first)} updates, {transitions} transitions; N={n} per kind, {rounds} rounds, {concurrency} at a time")
    for kind in kinds:
        print(f"  {kind:14s} {shapes[kind]}")
    for kind in kinds:
        lat = latencies[kind]
        print(
            f"{kind:14s} throughput {n / elapsed[kind]:7.2f} cases/s   update p50 {statistics.median(lat) * 1000:7.1f} ms"
            f"   p99 {percentile(lat, 99) * 1000:7.1f} ms"
        )
    names = list(by_update["lifecycle"] or by_update[kinds[0]])
    print("p50 ms by update: " + "  ".join(kinds))
    for name in names:
        cells = [statistics.median(by_update[k][name]) * 1000 if by_update[k].get(name) else float("nan") for k in kinds]
        print(f"  {name:22s} " + "  ".join(f"{c:8.1f}" for c in cells))
    verify_us, codec_us = await unit_costs(key, payload_keys, final["TradeOrder"])
    size = len(json.dumps(final["TradeOrder"]))
    print(f"one token verification {verify_us:.0f} µs; codec encrypt+decrypt of a final status ({size} chars) {codec_us:.0f} µs")
    if only:
        return
    for base in ("bare-same", "bare-business"):
        ratios = [t["lifecycle"] / t[base] for t in per_round]
        print(
            f"lifecycle / {base}: throughput {elapsed[base] / elapsed['lifecycle']:.3f}"
            f" (rounds: {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}),"
            f" p50 latency {statistics.median(latencies['lifecycle']) / statistics.median(latencies[base]):.2f}×"
        )
    print(f"RATIO {elapsed['bare-business'] / elapsed['lifecycle']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=60, help="cases of each kind (default 60)")
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("-r", "--rounds", type=int, default=3, help="rounds the kinds alternate in (default 3)")
    parser.add_argument("--only", choices=KINDS, help="run one kind alone (for profiling); no RATIO")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, max(1, min(args.rounds, args.n)), args.only))
