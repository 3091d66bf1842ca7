"""Actor tokens: who gives a command, proven by the deployment's identity provider.

Every workflow input and update argument carries ``actor_token``, a JWT (compact JWS, EdDSA over
Ed25519) with the claims of the public contract (README, "Trust"): ``sub``, ``role``, ``aud`` (the namespace), ``wid`` (the
workflow id), ``iat``, ``exp`` (at most 15 minutes after ``iat``), ``jti``, optionally ``upd``,
for a start, optionally ``wft`` (the workflow type it may start), and for an officer optionally
``ctr`` (the numbering centre the officer works at).
PyJWT checks the signature; this module checks the claims against the command at hand, judging
times by the clock it is given (workflow time), never the machine's.

Two ways to read a token, for the two places a command is looked at:
- :meth:`TrustedKeys.verify` in update validators (and the start's local activity): signature,
  audience, workflow, update, lifetime. It depends on the key set and a clock, so it runs only
  where Temporal does not replay it.
- :func:`claims_of` in handlers: the claims of a token the validator already accepted, with no
  key and no clock, so a replay months later (keys rotated, token long expired) re-derives the
  same actor.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "EdDSA"
ROLES = frozenset(
    {"applicant", "licensing_org", "expert", "bank", "importer", "customs", "operator", "officer", "seller", "buyer", "owner"}
    | {"post_office", "police10", "fuel_office", "station"}  # fuel cards (seed 002, issue 12)
)
MAX_LIFETIME = timedelta(minutes=15)
"""CONTRACT.md: ``exp`` at most 15 minutes after ``iat``."""
CLOCK_SKEW = timedelta(seconds=60)
"""Our choice: how far in the future ``iat`` may lie, for an identity provider whose clock runs ahead."""
MAX_TOKEN_CHARS = 4096
"""Our choice: a token is a few hundred characters; anything longer is refused unread."""
CENTRE_CLAIM = "ctr"
"""Optional claim: the numbering centre of a plate-centre officer (seed 004 numbers some vehicles
only at some centres); carried into the verified actor as ``centre``."""
START = "start"
"""The ``upd`` claim of a token that starts a case (when the claim is present)."""


class TokenRejected(ValueError):
    """A token that proves nothing; the message names the claim that failed."""


@dataclass(frozen=True)
class VerifiedActor:
    role: str
    id: str
    """The token's ``sub``."""
    jti: str
    centre: str | None = None
    """The optional ``ctr`` claim: the numbering centre (مرکز شماره‌گذاری) a plate-centre officer
    works at, a ``centre_id`` of the reference data's ``numbering_centres``."""


def _text_claim(claims: dict[str, Any], name: str, limit: int = 64) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise TokenRejected(f"claim {name!r} must be a non-empty string of at most {limit} characters")
    if not value.isprintable():
        # A subject lands in audit rows and payment rows: no control characters (NUL is refused by
        # PostgreSQL, and a newline would forge lines in logs).
        raise TokenRejected(f"claim {name!r} holds control characters")
    return value


def _actor(claims: dict[str, Any]) -> VerifiedActor:
    role = _text_claim(claims, "role", 32)
    if role not in ROLES:
        raise TokenRejected(f"claim 'role' names no role of the contract ({role!r})")
    centre = _text_claim(claims, CENTRE_CLAIM) if CENTRE_CLAIM in claims else None
    return VerifiedActor(role=role, id=_text_claim(claims, "sub"), jti=_text_claim(claims, "jti"), centre=centre)


def _instant(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenRejected(f"claim {name!r} must be a NumericDate")
    return datetime.fromtimestamp(value, UTC)


def _shape(token: Any) -> str:
    if not isinstance(token, str) or not token:
        raise TokenRejected("actor_token is missing")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected(f"actor_token is longer than {MAX_TOKEN_CHARS} characters")
    return token


def claims_of(token: str) -> VerifiedActor:
    """The actor of a token already verified when its command was accepted (no key, no clock)."""
    claims = jwt.decode(_shape(token), options={"verify_signature": False})
    return _actor(claims)


class TrustedKeys:
    """The identity provider's public keys (several, so they can rotate), by key id."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        entries = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(entries, list) or not entries:
            raise ValueError('a JWKS needs a non-empty "keys" list')
        self._keys: dict[str | None, jwt.PyJWK] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                raise ValueError("every trusted key must be an Ed25519 public key (kty OKP, crv Ed25519)")
            if "d" in entry:
                raise ValueError("the JWKS holds a private key; a worker trusts public keys only")
            self._keys[entry.get("kid")] = jwt.PyJWK(entry, algorithm=ALGORITHM)

    @classmethod
    def load(cls, path: Path) -> TrustedKeys:
        if not path.exists():
            raise FileNotFoundError(f"no trusted actor keys: {path} does not exist (set ACTOR_JWKS_FILE)")
        try:
            return cls(json.loads(path.read_text()))
        except (ValueError, jwt.PyJWTError) as err:
            raise ValueError(f"{path}: {err}") from None

    @property
    def key_ids(self) -> list[str | None]:
        return list(self._keys)

    def verify(
        self, token: Any, *, namespace: str, workflow_id: str, update: str, now: datetime, workflow_type: str | None = None
    ) -> VerifiedActor:
        """Check a token for one command on one case at ``now`` (workflow time); raise :class:`TokenRejected`."""
        token = _shape(token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("actor_token is not a compact JWS") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRejected(f"actor_token must be signed with {ALGORITHM}, not {header.get('alg')!r}")
        kid = header.get("kid")
        if kid not in self._keys:
            raise TokenRejected(f"actor_token is signed by an untrusted key (kid {kid!r})")
        try:
            claims = jwt.decode(
                token,
                self._keys[kid],
                algorithms=[ALGORITHM],
                audience=namespace,
                # Times are judged below against workflow time, not this machine's clock.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["aud"]},
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("actor_token's signature does not verify with the trusted key") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected(f"actor_token is for another namespace (aud must be {namespace!r})") from None
        except jwt.PyJWTError as err:
            raise TokenRejected(f"actor_token is invalid: {err}") from None
        actor = _actor(claims)
        if claims.get("wid") != workflow_id:
            raise TokenRejected("actor_token is for another workflow (claim 'wid')")
        if "upd" in claims and claims["upd"] != update:
            raise TokenRejected(f"actor_token is for another command (claim 'upd' is {claims['upd']!r}, not {update!r})")
        if workflow_type is not None and "wft" in claims and claims["wft"] != workflow_type:
            raise TokenRejected(f"actor_token starts another workflow type (claim 'wft' is {claims['wft']!r})")
        issued, expires = _instant(claims, "iat"), _instant(claims, "exp")
        if expires - issued > MAX_LIFETIME:
            raise TokenRejected(f"actor_token lives longer than {int(MAX_LIFETIME.total_seconds() // 60)} minutes (exp - iat)")
        if issued > now + CLOCK_SKEW:
            raise TokenRejected("actor_token is issued in the future (claim 'iat')")
        if now >= expires:
            raise TokenRejected("actor_token has expired (claim 'exp')")
        return actor


# --- minting: the dev identity provider (starter.py token, the demo, tests, the benchmark) ---


@dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 key as a JWK with its ``kid``; production keeps it at the identity provider."""

    jwk: dict[str, Any]

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private))
        jwk.update(kid=kid or f"dev-{uuid.uuid4().hex[:8]}", alg=ALGORITHM, use="sig")
        return cls(jwk)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        if not path.exists():
            raise FileNotFoundError(f"no actor signing key: {path} does not exist (./dev demo creates a dev key)")
        return cls(json.loads(path.read_text()))

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])

    def public_jwk(self) -> dict[str, Any]:
        return {k: v for k, v in self.jwk.items() if k != "d"}

    def mint(
        self,
        *,
        role: str,
        sub: str,
        workflow_id: str,
        namespace: str,
        update: str | None = None,
        now: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=5),
        jti: str | None = None,
        centre: str | None = None,
        **extra: Any,
    ) -> str:
        """A token for one command. ``now`` is the clock the workflow will judge it by (pass the
        time-skipping server's clock in tests); ``centre`` sets the officer's ``ctr`` claim."""
        issued = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": sub,
            "role": role,
            "aud": namespace,
            "wid": workflow_id,
            "iat": int(issued.timestamp()),
            "exp": int((issued + lifetime).timestamp()),
            "jti": jti or uuid.uuid4().hex,
            **extra,
        }
        if update is not None:
            claims["upd"] = update
        if centre is not None:
            claims[CENTRE_CLAIM] = centre
        key = jwt.PyJWK(self.jwk, algorithm=ALGORITHM)
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": self.kid})


def jwks_of(*keys: SigningKey) -> dict[str, Any]:
    """The public JWKS a worker trusts for these signing keys."""
    return {"keys": [key.public_jwk() for key in keys]}


_installed: TrustedKeys | None = None


def install(keys: TrustedKeys) -> None:
    """Make ``keys`` the ones update validators verify with (the worker does this at start-up).

    Workflow code imports this module passed through the sandbox, so validators see the worker's
    keys; handlers never read them (see :func:`claims_of`).
    """
    global _installed
    _installed = keys


def installed() -> TrustedKeys | None:
    return _installed
