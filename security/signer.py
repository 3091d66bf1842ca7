"""The dev identity provider's client side: tokens for the commands starter.py, the demo, the
tests and the benchmark send.

A production service gets its tokens from the deployment's identity provider; here the dev key
(``ACTOR_SIGNING_KEY_FILE``) signs them. A command written the old way, with an ``actor``
object, gets a token for that actor and keeps the object (the workflow accepts it when it equals
the token's ``{role, id: sub}``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import settings
from security.tokens import START, SigningKey


async def wall_clock() -> datetime:
    return datetime.now(UTC)


class ActorSigner:
    """Mints one token per command for one namespace, by the clock the workflows will judge it by."""

    def __init__(self, key: SigningKey, namespace: str, clock: Callable[[], Awaitable[datetime]] = wall_clock) -> None:
        self.key = key
        self.namespace = namespace
        self.clock = clock

    @classmethod
    def from_settings(cls, namespace: str, clock: Callable[[], Awaitable[datetime]] = wall_clock) -> ActorSigner:
        return cls(SigningKey.load(settings.actor_signing_key_file()), namespace, clock)

    async def token(self, *, role: str, sub: str, workflow_id: str, update: str | None = None, **extra: Any) -> str:
        return self.key.mint(
            role=role, sub=sub, workflow_id=workflow_id, namespace=self.namespace, update=update, now=await self.clock(), **extra
        )

    async def command(self, workflow_id: str, update: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with an ``actor_token`` for its ``actor`` (unless it carries a token already)."""
        if "actor_token" in payload or not isinstance(payload.get("actor"), dict):
            return payload
        actor = payload["actor"]
        token = await self.token(
            role=actor["role"], sub=actor["id"], workflow_id=workflow_id, update=update, centre=actor.get("centre")
        )
        return {**payload, "actor_token": token}

    async def start(self, workflow_id: str, payload: dict[str, Any], *, role: str, sub: str) -> dict[str, Any]:
        """A workflow input with the token of the actor who starts the case."""
        token = await self.token(role=role, sub=sub, workflow_id=workflow_id, update=START)
        return {**payload, "actor_token": token}
