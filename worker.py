"""Runs a worker for every lifecycle: ``python worker.py``; the deploy step: ``python worker.py --setup``.

``--setup`` migrates the registry schema, registers the search attributes the lifecycles use and
creates (or updates) the reconciliation schedule (it needs DDL and Temporal operator rights), then exits. The worker itself needs neither: it
refuses to start, saying why, when the schema is behind, when it has no trusted actor keys
(``ACTOR_JWKS_FILE``) or no payload keys (``PAYLOAD_KEYS_FILE``). It connects as the ``temporal``
CLI does (Temporal's environment configuration: TLS, mTLS, API key, profiles), encrypts every
payload, and polls ``TEMPORAL_TASK_QUEUE``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import settings
from activities import domestic_order as domestic_order_activities
from activities import fuel_cards as fuel_card_activities
from activities import import_offering as import_offering_activities
from activities import import_purchase as import_purchase_activities
from activities import import_scheme as import_scheme_activities
from activities import plate_services as plate_service_activities
from activities import plates as plate_activities
from activities import registry as registry_activities
from activities import repair as repair_activities
from activities import trade_order as trade_order_activities
from activities.errors import ActivityFailures
from activities.trust import verify_start_token
from domain import policy
from registry.db import migrate, schema_behind
from security import tokens
from security.codec import PayloadKeys, data_converter
from security.connection import connect, connect_config, describe
from workflows.audit_rides import AuditRides
from workflows.common import SEARCH_ATTRIBUTES
from workflows.domestic_order import DomesticOrderWorkflow, DomesticSchemeWorkflow
from workflows.fuel_card import FuelCardWorkflow
from workflows.fuel_charge import FuelChargeWorkflow
from workflows.fuel_charge import ensure_schedule as ensure_fuel_charge_schedule
from workflows.import_offering import ImportOfferingWorkflow
from workflows.import_purchase import ImportPurchaseWorkflow
from workflows.import_scheme import ImportSchemeWorkflow
from workflows.plate_services import PlateServiceWorkflow
from workflows.plate_transfer import PlateTransferWorkflow, VehicleNumberingWorkflow
from workflows.reconciliation import ReconciliationWorkflow, ensure_schedule
from workflows.trade_order import TradeOrderWorkflow
from workflows.trade_order_amendment import TradeOrderAmendmentWorkflow

WORKFLOWS: list[type] = [
    TradeOrderWorkflow,
    TradeOrderAmendmentWorkflow,
    ImportPurchaseWorkflow,
    VehicleNumberingWorkflow,
    PlateTransferWorkflow,
    PlateServiceWorkflow,
    ReconciliationWorkflow,
    ImportSchemeWorkflow,
    DomesticSchemeWorkflow,
    DomesticOrderWorkflow,
]
WORKFLOWS.append(FuelChargeWorkflow)
WORKFLOWS.append(FuelCardWorkflow)  # issue 12: a fuel card's issuance as a case
ACTIVITIES: list[Callable[..., Any]] = [
    registry_activities.claim_case_id,
    registry_activities.record_transition,
    registry_activities.record_transitions,
    registry_activities.send_notification,
    registry_activities.send_notifications,
    registry_activities.record_payment,
    verify_start_token,
    *trade_order_activities.ACTIVITIES,
    *import_purchase_activities.ACTIVITIES,
    *plate_activities.ACTIVITIES,
    *plate_service_activities.ACTIVITIES,
    *repair_activities.ACTIVITIES,
    *import_scheme_activities.ACTIVITIES,
    *domestic_order_activities.ACTIVITIES,
]
ACTIVITIES.extend(fuel_card_activities.ACTIVITIES)
WORKFLOWS.append(ImportOfferingWorkflow)  # issue 10 item 4: an import offering as a case
ACTIVITIES.extend(import_offering_activities.ACTIVITIES)


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register every custom search attribute the lifecycles use that the server lacks.

    The time-skipping test server has no ListSearchAttributes; there we add them all and take
    "already exists" as success.
    """
    wanted = {name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}") for name, kind in SEARCH_ATTRIBUTES.items()}
    try:
        known = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        wanted = {name: kind for name, kind in wanted.items() if name not in known.custom_attributes}
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    if not wanted:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


SANDBOX = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("cryptography", "jwt"))
"""Validators verify signatures inside the sandbox: cryptography's native code must see the one copy
of its modules (a re-imported cryptography.exceptions aborts the process on a bad signature)."""


def build_worker(
    client: Client,
    task_queue: str,
    *,
    trusted_keys: tokens.TrustedKeys | None = None,
    workflows: Sequence[type] = WORKFLOWS,
    activities: Sequence[Callable[..., Any]] = ACTIVITIES,
    **options: Any,
) -> Worker:
    """A worker for the lifecycles; its update validators and start checks trust ``trusted_keys``
    (default: ``ACTOR_JWKS_FILE``'s)."""
    tokens.install(trusted_keys or tokens.TrustedKeys.load(settings.actor_jwks_file()))
    # Activities are synchronous (SQLAlchemy sessions), so they run on a thread pool; on shutdown
    # they get a few seconds to finish before they are cancelled (and retried elsewhere).
    options.setdefault("graceful_shutdown_timeout", timedelta(seconds=10))
    options.setdefault("workflow_runner", SANDBOX)
    # Headers pass the payload codec too: the audit rows riding with activities name their actors.
    config = client.config()
    config["header_codec_behavior"] = HeaderCodecBehavior.CODEC
    polling = Client(**config)
    return Worker(
        polling,
        task_queue=task_queue,
        workflows=list(workflows),
        # The reconciliation asks Temporal which cases are closed with the worker's own client.
        activities=[
            *activities,
            repair_activities.CaseLookup(client).case_verdicts,
            repair_activities.CaseLookup(client).sweep_hand_closed_audit,
            import_scheme_activities.CaseWakeup(client).wake_scheme_cases,
            import_scheme_activities.CaseWakeup(client).signal_cases,
            domestic_order_activities.OrderTelling(client).tell_domestic_orders,
            fuel_card_activities.FuelCardStarter(client).start_numbering_fuel_card,  # issue 12
        ],
        activity_executor=ThreadPoolExecutor(max_workers=16),
        # Data the registry refuses fails the update at once; a failure that lasts alerts operators.
        # A case's unwritten audit rows ride with its activities and are written with them.
        interceptors=[ActivityFailures(), AuditRides(), *options.pop("interceptors", [])],
        **options,
    )


def build_replayer(workflows: Sequence[type] = WORKFLOWS, data_converter: Any = None) -> Replayer:
    """A replayer of the lifecycles' histories that runs their code as :func:`build_worker`'s workers
    do: the same interceptors (a case's audit rows ride with its activities, and what a case
    records as written depends on it), sandbox and encrypted payloads and headers."""
    from security.codec import data_converter as encrypted_converter

    return Replayer(
        workflows=list(workflows),
        data_converter=data_converter or encrypted_converter(),
        interceptors=[AuditRides()],
        workflow_runner=SANDBOX,
        header_codec_behavior=HeaderCodecBehavior.CODEC,
    )


async def setup() -> None:
    """The deploy step: the registry schema, the search attributes and the reconciliation schedule, with admin rights."""
    migrate()
    client = await connect()
    await ensure_search_attributes(client, client.namespace)
    await ensure_schedule(client, settings.TEMPORAL_TASK_QUEUE)
    await ensure_fuel_charge_schedule(client, settings.TEMPORAL_TASK_QUEUE)
    logging.info(
        "schema migrated, search attributes and the reconciliation schedule registered on %s", describe(connect_config())
    )


def load_trust() -> tuple[tokens.TrustedKeys, PayloadKeys]:
    """The keys this worker needs, or ``SystemExit`` saying why it must not poll."""
    behind = schema_behind()
    if behind:
        raise SystemExit(behind)
    try:
        trusted = tokens.TrustedKeys.load(settings.actor_jwks_file())
    except (OSError, ValueError) as err:
        raise SystemExit(f"no trusted actor keys: {err}") from None
    try:
        payload_keys = PayloadKeys.load(settings.payload_keys_file())
    except (OSError, ValueError) as err:
        raise SystemExit(f"no payload keys: {err}") from None
    return trusted, payload_keys


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--setup",
        action="store_true",
        help="migrate the schema, register search attributes and the reconciliation schedule, exit",
    )
    if parser.parse_args().setup:
        await setup()
        return
    try:
        trusted, payload_keys = load_trust()
    except SystemExit as refusal:
        logging.error("the worker will not start: %s", refusal)
        sys.exit(2)
    client = await connect_patiently(payload_keys)
    worker = build_worker(client, settings.TEMPORAL_TASK_QUEUE, trusted_keys=trusted)
    # SIGTERM (./dev stop, a process manager) drains in-flight tasks instead of abandoning them.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.info(
        "worker polling %s on %s (%d trusted actor keys)",
        settings.TEMPORAL_TASK_QUEUE,
        describe(connect_config()),
        len(trusted.key_ids),
    )
    async with worker:
        await stop.wait()
    logging.info("worker stopped")


async def connect_patiently(payload_keys: PayloadKeys) -> Client:
    """Connect, waiting out a server that is restarting or not up yet for at most
    ``policy.WORKER_CONNECT_PATIENCE_SECONDS``; then exit with the reason."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + policy.WORKER_CONNECT_PATIENCE_SECONDS
    while True:
        try:
            return await connect(data_converter=data_converter(payload_keys))
        except RuntimeError as error:
            if loop.time() >= give_up_at:
                raise
            logging.warning("%s; trying again", error)
            await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main())
    # The SDK's native client threads may still be winding down when the interpreter finalises;
    # seen to abort the process (PyGILState_Release) after a successful --setup. Everything is
    # done and flushed here, so leave without finalising.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
