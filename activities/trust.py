"""Verifying the token that starts a case.

A start has no validator, and the workflow cannot read the key set or the clock without losing
determinism, so the check is an activity: its answer is recorded in history and replays as it
was, whatever keys the replaying worker trusts. The clock it judges by is the workflow's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from security import tokens

UNAUTHENTICATED = "Unauthenticated"


@dataclass
class StartToken:
    token: str
    workflow_id: str
    namespace: str
    at: datetime
    """Workflow time when the case started: the clock the token is judged by."""


@dataclass
class StartActor:
    role: str
    id: str
    jti: str


@activity.defn
def verify_start_token(start: StartToken) -> StartActor:
    keys = tokens.installed()
    if keys is None:
        # A worker without keys cannot judge; retrying on another worker may.
        raise ApplicationError("this worker trusts no actor keys", type="NoTrustedKeys")
    try:
        actor = keys.verify(start.token, namespace=start.namespace, workflow_id=start.workflow_id, update=tokens.START, now=start.at)
    except tokens.TokenRejected as err:
        raise ApplicationError(f"start: {err}", type=UNAUTHENTICATED, non_retryable=True) from None
    return StartActor(actor.role, actor.id, actor.jti)
