"""Access tokens (Ed25519 JWTs any JOSE library verifies from the JWKS) and opaque refresh tokens.

A refresh token is 256 random bits shown to the client once; the database keeps only its
SHA-256, so a leaked table cannot be replayed. Every access token a session receives is
remembered in Valkey until it expires, so revoking the session (logout, password change,
deactivation, refresh reuse) denylists all of them at once, in every service.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from joserfc import jwt

from api.common.auth import ValkeyDenylist
from api.common.settings import Settings
from api.identity.keys import SIGNING_ALGORITHM, SigningKeyStore

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
"""RFC 9068: tells an access token apart from an ID token or any other JWT."""


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    issued_at: int
    expires_at: int

    @property
    def expires_in(self) -> int:
        return self.expires_at - self.issued_at


@dataclass(frozen=True)
class AccessTokenSubject:
    user_id: UUID
    tenant_id: UUID
    roles: Sequence[str]
    session_id: UUID
    locale: str | None
    """The user's own choice only: without one, each request's Accept-Language decides."""
    plan: str | None = None
    """The tenant's subscription plan: services enforce its quotas without asking identity."""


class AccessTokenIssuer:
    def __init__(self, settings: Settings, keys: SigningKeyStore) -> None:
        self._settings = settings
        self._keys = keys

    def issue(self, subject: AccessTokenSubject, *, now: float | None = None) -> IssuedAccessToken:
        issued_at = int(now if now is not None else time.time())
        expires_at = issued_at + self._settings.access_token_ttl_seconds
        jti = str(uuid.uuid4())
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": str(subject.user_id),
            "tid": str(subject.tenant_id),
            "roles": list(subject.roles),
            "jti": jti,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires_at,
            "sid": str(subject.session_id),
            "locale": subject.locale,
            "plan": subject.plan,
        }
        signing = self._keys.signing_key()
        header = {"alg": SIGNING_ALGORITHM, "typ": ACCESS_TOKEN_TYPE, "kid": signing.kid}
        token = jwt.encode(header, claims, signing.key, algorithms=[SIGNING_ALGORITHM])
        return IssuedAccessToken(token=token, jti=jti, issued_at=issued_at, expires_at=expires_at)


def new_refresh_token() -> tuple[str, str]:
    """The token for the client and the digest for the database."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def epoch_to_datetime(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


class SessionAccessTokens:
    """Which access tokens each session holds, so revoking a session denylists them all."""

    def __init__(self, valkey: Any, denylist: ValkeyDenylist, *, prefix: str = "identity:sid-jti") -> None:
        self._valkey = valkey
        self._denylist = denylist
        self._prefix = prefix

    def _key(self, session_id: UUID | str) -> str:
        return f"{self._prefix}:{session_id}"

    async def remember(self, session_id: UUID, issued: IssuedAccessToken) -> None:
        key = self._key(session_id)
        ttl = max(1, issued.expires_at - int(time.time()))
        async with self._valkey.pipeline(transaction=True) as pipe:
            pipe.sadd(key, f"{issued.jti}:{issued.expires_at}")
            pipe.expire(key, ttl, gt=True)
            pipe.expire(key, ttl, nx=True)
            await pipe.execute()

    async def revoke_access_token(self, jti: str, ttl_seconds: int) -> None:
        await self._denylist.revoke(jti, ttl_seconds)

    async def revoke(self, session_ids: Iterable[UUID | str]) -> int:
        """Denylist every still-valid access token of these sessions; returns how many."""
        now = time.time()
        revoked = 0
        for session_id in session_ids:
            key = self._key(session_id)
            members: set[bytes | str] = await self._valkey.smembers(key)
            for member in members:
                text = member.decode() if isinstance(member, bytes) else member
                jti, _, expires_at = text.rpartition(":")
                remaining = math.ceil(int(expires_at) - now)
                if jti and remaining > 0:
                    await self._denylist.revoke(jti, remaining)
                    revoked += 1
            await self._valkey.delete(key)
        return revoked
