"""Benchmark: full TradeOrder lifecycles against bare workflows of the same shape.

    python bench/lifecycle.py [-n 30] [-c 10]

Starts its own dev server and a fresh SQLite registry, runs N TradeOrder cases Draft → Registered
(C at a time) and, in the same run, N BenchBare cases taking the same number of updates and
running the same number of no-op activities. Trust is on as in production: every lifecycle
command carries a freshly minted actor token, and every payload of both kinds of case passes the
AES-GCM codec. Prints throughput and p50/p99 update latency for both, what one token
verification and one codec round trip of an update's status cost (µs), and last
``RATIO <lifecycle throughput / bare throughput>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def run_cases(n: int, concurrency: int, one: Callable[[list[float]], Awaitable[None]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with gate:
            await one(latencies)

    began = time.perf_counter()
    await asyncio.gather(*(guarded() for _ in range(n)))
    return n / (time.perf_counter() - began), latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def trust_material() -> tuple[object, object]:
    """A throw-away identity provider key and payload key, installed through the environment."""
    import json

    from security.codec import PayloadKeys
    from security.tokens import SigningKey, jwks_of

    folder = Path(tempfile.mkdtemp(prefix="bench-trust-"))
    key, payload_keys = SigningKey.generate(), PayloadKeys.generate()
    (folder / "jwks.json").write_text(json.dumps(jwks_of(key)))
    (folder / "payload.json").write_text(payload_keys.to_json())
    os.environ["ACTOR_JWKS_FILE"] = str(folder / "jwks.json")
    os.environ["PAYLOAD_KEYS_FILE"] = str(folder / "payload.json")
    return key, payload_keys


async def unit_costs(key: object, payload_keys: object, status: dict) -> tuple[float, float]:
    """Microseconds for one token verification and one encrypt+decrypt of an update's status."""
    from temporalio.converter import DataConverter

    from security.codec import EncryptionCodec
    from security.tokens import TrustedKeys, jwks_of

    trusted = TrustedKeys(jwks_of(key))  # type: ignore[arg-type]
    now = datetime.now(timezone.utc)
    tokens = [key.mint(role="applicant", sub="0012345679", workflow_id="w", namespace="default", update="submit", now=now)  # type: ignore[attr-defined]
              for _ in range(500)]
    began = time.perf_counter()
    for token in tokens:
        trusted.verify(token, namespace="default", workflow_id="w", update="submit", now=now)
    verify_us = (time.perf_counter() - began) / len(tokens) * 1e6
    codec = EncryptionCodec(payload_keys)  # type: ignore[arg-type]
    payloads = DataConverter.default.payload_converter.to_payloads([status])
    rounds = 500
    began = time.perf_counter()
    for _ in range(rounds):
        await codec.decode(await codec.encode(payloads))
    codec_us = (time.perf_counter() - began) / rounds * 1e6
    return verify_us, codec_us


async def main(n: int, concurrency: int) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/registry.sqlite3"
    key, payload_keys = trust_material()
    from security.codec import data_converter
    from security.signer import ActorSigner
    from temporalio.client import Client, WorkflowHandle
    from temporalio.testing import WorkflowEnvironment

    from bench.bare import BareWorkflow, noop
    from demo.samples import trade_order_sections
    from domain.identity import with_check_digit
    from registry.db import migrate
    from registry.refdata import DEFAULT_REFDATA, load_refdata_file, set_rate
    from settings import find_binary
    from worker import ACTIVITIES, WORKFLOWS, build_worker
    from workflows.common import CASE_STATE

    migrate()
    load_refdata_file(DEFAULT_REFDATA)
    set_rate("EUR", Decimal("620000"), datetime(2020, 1, 1, tzinfo=timezone.utc))
    serial = iter(range(200_000_001, 300_000_000))

    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"), search_attributes=[CASE_STATE], dev_server_log_level="error",
        data_converter=data_converter(payload_keys),  # type: ignore[arg-type]
    ) as env:
        client: Client = env.client
        signer = ActorSigner(key, client.namespace)  # type: ignore[arg-type]
        last_status: dict = {}
        task_queue = f"bench-{uuid.uuid4()}"
        worker = build_worker(client, task_queue, workflows=[*WORKFLOWS, BareWorkflow], activities=[*ACTIVITIES, noop])
        shape: dict[str, int] = {}

        async def timed(latencies: list[float], handle: WorkflowHandle, name: str, arg: object) -> dict:
            began = time.perf_counter()
            if isinstance(arg, dict) and "actor" in arg:
                arg = await signer.command(handle.id, name, arg)  # minting is part of what a client pays
            result = await handle.execute_update(name, arg)
            latencies.append(time.perf_counter() - began)
            return result

        async def lifecycle(latencies: list[float]) -> None:
            nid = with_check_digit(str(next(serial)))
            me = {"role": "applicant", "id": nid}
            workflow_id = f"bench-to-{uuid.uuid4()}"
            start = await signer.start(workflow_id, {"applicant": {"national_id": nid, "full_name": "bench"}}, role="applicant", sub=nid)
            handle = await client.start_workflow("TradeOrder", start, id=workflow_id, task_queue=task_queue)
            for name, fields in trade_order_sections(date.today()).items():
                await timed(latencies, handle, name, {"actor": me, **fields})
            for name in ("submit", "inquire_rules", "request_permits"):
                status = await timed(latencies, handle, name, {"actor": me})
            for org in status["permits"]:
                await timed(latencies, handle, "decide_permit", {"actor": {"role": "licensing_org", "id": org}, "approve": True})
            status = await timed(latencies, handle, "request_registration", {"actor": me})
            pay = {"actor": {"role": "bank", "id": "b"}, "payment_ref": f"P-{handle.id}", "amount_rial": status["fee_rial"]}
            last_status.update(await timed(latencies, handle, "pay_fee", pay))
            await handle.result()
            if not shape:
                history = await handle.fetch_history()
                shape["updates"] = sum(1 for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes"))
                shape["activities"] = sum(1 for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))

        async def bare(latencies: list[float]) -> None:
            updates, activities = shape["updates"], shape["activities"]
            handle = await client.start_workflow(BareWorkflow.run, updates, id=f"bench-bare-{uuid.uuid4()}", task_queue=task_queue)
            for i in range(updates):
                share = activities // updates + (1 if i < activities % updates else 0)
                await timed(latencies, handle, "step", share)
            await handle.result()

        async with worker:
            await run_cases(2, 2, lifecycle)  # warm-up, and learn the lifecycle's shape
            await run_cases(2, 2, bare)
            bare_tput, bare_lat = await run_cases(n, concurrency, bare)
            life_tput, life_lat = await run_cases(n, concurrency, lifecycle)

    print(f"shape: {shape['updates']} updates, {shape['activities']} activities per case; N={n}, concurrency={concurrency}")
    for label, tput, lat in (("bare", bare_tput, bare_lat), ("lifecycle", life_tput, life_lat)):
        print(
            f"{label:10s} throughput {tput:7.2f} cases/s   update p50 {statistics.median(lat) * 1000:7.1f} ms"
            f"   p99 {percentile(lat, 99) * 1000:7.1f} ms"
        )
    print(f"latency p50 ratio (lifecycle / bare) {statistics.median(life_lat) / statistics.median(bare_lat):.2f}")
    verify_us, codec_us = await unit_costs(key, payload_keys, last_status)
    print(f"per update: token verification {verify_us:.0f} µs; codec encrypt+decrypt of the status ({len(str(last_status))} chars) {codec_us:.0f} µs")
    print(f"RATIO {life_tput / bare_tput:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=30, help="cases of each kind")
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
