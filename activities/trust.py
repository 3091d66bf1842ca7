"""Verifying the token that starts a case.

A start has no validator, and the workflow cannot read the key set or the clock without losing
determinism, so the check is an activity: its answer is recorded in history and replays as it
was, whatever keys the replaying worker trusts. The clock it judges by is the workflow's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from registry.db import session_scope
from registry.models import SpentStartToken
from security import tokens

UNAUTHENTICATED = "Unauthenticated"


@dataclass
class StartToken:
    token: str
    workflow_id: str
    namespace: str
    at: datetime
    """Workflow time when the case started: the clock the token is judged by."""
    workflow_type: str = ""
    run_id: str = ""
    """The run that spends the token: a retry of this activity in the same run is not a reuse."""


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
        actor = keys.verify(
            start.token,
            namespace=start.namespace,
            workflow_id=start.workflow_id,
            update=tokens.START,
            now=start.at,
            workflow_type=start.workflow_type,
        )
    except tokens.TokenRejected as err:
        raise ApplicationError(f"start: {err}", type=UNAUTHENTICATED, non_retryable=True) from None
    spend(actor.jti, start)
    return StartActor(actor.role, actor.id, actor.jti)


def spend(jti: str, start: StartToken) -> None:
    """A start token opens one run, ever: a refused run's token cannot open the id again.

    This is the one row a refused start leaves: the spent token (no case data). The unique
    ``jti`` decides between two runs racing with one token."""
    try:
        with session_scope() as session:
            spent = session.get(SpentStartToken, jti)
            if spent is None:
                session.add(SpentStartToken(jti=jti, workflow_id=start.workflow_id, run_id=start.run_id, spent_at=start.at))
                return
            if spent.run_id == start.run_id:
                return
    except IntegrityError:
        pass
    raise ApplicationError(
        "start: actor_token was already used to start a case (claim 'jti')", type=UNAUTHENTICATED, non_retryable=True
    )
