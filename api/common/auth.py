"""Every service checks identity's access tokens by itself, with identity's public keys (JWKS).

Access tokens are JWS compact tokens signed with Ed25519 (``alg: Ed25519``, RFC 9864), header
``typ: at+jwt`` (RFC 9068) and a ``kid`` naming the signing key. The algorithm is pinned before
any key is looked up, so ``none``, HMAC-with-the-public-key and other confusions never reach a
verifier. An unknown ``kid`` (identity rotated its keys) refetches the JWKS, at most once per
`JWKS_MIN_REFRESH_SECONDS`, so forged kids cannot turn a service into a JWKS flooder.

Logout puts the token's ``jti`` on a Valkey denylist until the token would have expired anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import httpx
import structlog
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet, OKPKey
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Guard, Scope, Scopes
from valkey.asyncio import Valkey

from api.common.errors import AuthenticationError, PermissionDeniedError, ServiceUnavailableError
from api.common.i18n import N_, current_locale, normalize_locale
from api.common.settings import Settings
from api.common.tenancy import current_tenant_id

ACCESS_TOKEN_ALGORITHMS: tuple[str, ...] = ("Ed25519",)
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT typ header identity signs with, no secret
CLOCK_LEEWAY_SECONDS = 30
MAX_TOKEN_LENGTH = 8192
JWKS_MIN_REFRESH_SECONDS = 30.0
JWKS_FETCH_TIMEOUT_SECONDS = 5.0
VERIFIED_TOKEN_CACHE_SIZE = 4096
DENYLIST_MAX_BATCH = 256
DENYLIST_KEY = "mrbill:denylist:jti:{jti}"
SUPERADMIN = "SUPERADMIN"
PUBLIC_OPT_KEY = "public"
UNAUTHENTICATED_PATHS: tuple[str, ...] = ("^/health/", "^/metrics$", "^/schema")
"""Regexes of paths served without a token: probes, metrics scraping and the API docs."""

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified access token says about the caller."""

    user_id: UUID
    tenant_id: UUID
    roles: tuple[str, ...]
    jti: str
    expires_at: datetime
    issued_at: datetime
    locale: str | None = None
    session_id: str | None = None
    plan: str | None = None
    """The tenant's subscription plan when the token was issued, so services enforce quotas alone.

    Tokens issued before the claim existed have none; services then apply their most restrictive plan.
    """

    @property
    def is_superadmin(self) -> bool:
        return SUPERADMIN in self.roles

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return self.is_superadmin or any(role in self.roles for role in roles)

    def seconds_left(self, now: datetime | None = None) -> int:
        """How long the token stays valid: the TTL its denylist entry needs."""
        remaining = (self.expires_at - (now or datetime.now(UTC))).total_seconds()
        return max(0, int(remaining) + 1)


# -- keys -----------------------------------------------------------------------------------


class KeySetProvider(Protocol):
    async def key_set(self, *, refresh: bool = False) -> KeySet: ...


def _verification_keys(keys: Iterable[Key]) -> KeySet:
    """Only Ed25519 public halves meant for signatures; anything else in a JWKS is ignored."""
    public: list[Key] = []
    for key in keys:
        usable = key.get("use") in (None, "sig") and key.get("alg") in (None, *ACCESS_TOKEN_ALGORITHMS)
        if isinstance(key, OKPKey) and key.curve_name == "Ed25519" and usable:
            public.append(OKPKey.import_key(key.as_dict(private=False)))
    return KeySet(public)


class StaticKeySet:
    """Keys known in-process (identity verifying its own tokens, tests)."""

    def __init__(self, keys: KeySet | Sequence[Key]) -> None:
        self._key_set = _verification_keys(keys)

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        return self._key_set


class JWKSClient:
    """Identity's JWKS over HTTP, cached for ``cache_seconds``; stale keys beat no keys."""

    def __init__(
        self,
        url: str,
        cache_seconds: float,
        http: httpx.AsyncClient,
        *,
        min_refresh_seconds: float = JWKS_MIN_REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._http = http
        self._clock = clock
        self._key_set: KeySet | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        if self._key_set is not None and not refresh and not self._expired():
            return self._key_set
        async with self._lock:
            # Waiters on the lock find the fetch already done and the interval not yet over.
            stale = self._key_set is None or self._expired()
            if (stale or refresh) and self._may_refetch():
                await self._fetch()
        if self._key_set is None:
            raise ServiceUnavailableError(N_("The identity service's signing keys are unavailable."))
        return self._key_set

    def _expired(self) -> bool:
        return self._clock() - self._fetched_at >= self.cache_seconds

    def _may_refetch(self) -> bool:
        return self._clock() - self._attempted_at >= self.min_refresh_seconds

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        self.fetch_count += 1
        try:
            response = await self._http.get(self.url, timeout=JWKS_FETCH_TIMEOUT_SECONDS)
            response.raise_for_status()
            key_set = _verification_keys(KeySet.import_key_set(response.json()))
        except (httpx.HTTPError, JoseError, ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "jwks fetch failed", url=self.url, error=repr(exc), has_stale_keys=bool(self._key_set)
            )
            return
        self._key_set = key_set
        self._fetched_at = self._attempted_at
        logger.info("jwks fetched", url=self.url, kids=[key.kid for key in key_set])


# -- verification ---------------------------------------------------------------------------


def _timestamp(value: object, claim: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationError(N_("The access token has an invalid {claim} claim."), claim=claim)
    return datetime.fromtimestamp(value, UTC)


def _uuid_claim(claims: dict[str, Any], claim: str) -> UUID:
    try:
        return UUID(str(claims[claim]))
    except ValueError:
        raise AuthenticationError(N_("The access token has an invalid {claim} claim."), claim=claim) from None


def _optional_str(claims: dict[str, Any], claim: str) -> str | None:
    value = claims.get(claim)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AuthenticationError(N_("The access token has an invalid {claim} claim."), claim=claim)
    return value


def _claims_from_payload(claims: dict[str, Any]) -> TokenClaims:
    roles = claims["roles"]
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise AuthenticationError(N_("The access token has an invalid {claim} claim."), claim="roles")
    return TokenClaims(
        user_id=_uuid_claim(claims, "sub"),
        tenant_id=_uuid_claim(claims, "tid"),
        roles=tuple(roles),
        jti=str(claims["jti"]),
        expires_at=_timestamp(claims["exp"], "exp"),
        issued_at=_timestamp(claims["iat"], "iat"),
        locale=_optional_str(claims, "locale"),
        session_id=_optional_str(claims, "sid"),
        plan=_optional_str(claims, "plan"),
    )


def _claims_registry(settings: Settings, leeway: int) -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": settings.jwt_issuer},
        aud={"essential": True, "value": settings.jwt_audience},
        sub={"essential": True},
        tid={"essential": True},
        jti={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        roles={"essential": True, "allow_blank": True},
    )


def _claim_failure(error: ClaimError) -> AuthenticationError:
    if isinstance(error, ExpiredTokenError):
        return AuthenticationError(N_("The access token has expired."))
    if isinstance(error, MissingClaimError):
        return AuthenticationError(N_("The access token is missing the {claim} claim."), claim=error.claim)
    if error.claim == "nbf":
        return AuthenticationError(N_("The access token is not valid yet."))
    if error.claim == "iss":
        return AuthenticationError(N_("The access token was issued by an unknown issuer."))
    if error.claim == "aud":
        return AuthenticationError(N_("The access token is not meant for this service."))
    return AuthenticationError(N_("The access token has an invalid {claim} claim."), claim=error.claim)


async def _signing_key(keys: KeySetProvider, kid: str) -> Key:
    for refresh in (False, True):
        try:
            return (await keys.key_set(refresh=refresh)).get_by_kid(kid)
        except InvalidKeyIdError:
            continue
    raise AuthenticationError(N_("The access token was signed with an unknown key."))


@dataclass(frozen=True, slots=True)
class _VerifiedToken:
    claims: TokenClaims
    kid: str
    key: Key
    expires_at: int | float


class VerifiedTokenCache:
    """Tokens that already passed every check, so a client's next request skips Ed25519.

    Keyed by the exact token string: the same bytes carry the same signature, so the answer
    cannot change, except through time (``exp`` is checked again, with the same leeway, on
    every hit) and through the keys. An entry names the key object that verified it and
    counts only while the key set still gives that very object for the ``kid``; a reload or
    JWKS refetch builds new objects, so key rotation re-verifies everything. Failures are
    never cached, and the denylist is asked on every request regardless.
    """

    def __init__(
        self, max_entries: int = VERIFIED_TOKEN_CACHE_SIZE, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _VerifiedToken] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def lookup(self, token: str, keys: KeySetProvider, leeway: int) -> TokenClaims | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry.expires_at <= int(self._clock()) - leeway:
            del self._entries[token]  # the full check explains the expiry
            return None
        try:
            current = (await keys.key_set()).get_by_kid(entry.kid)
        except InvalidKeyIdError:
            current = None
        if current is not entry.key:
            del self._entries[token]
            return None
        return entry.claims

    def remember(self, token: str, kid: str, key: Key, claims: TokenClaims, expires_at: int | float) -> None:
        if len(self._entries) >= self.max_entries:
            # Oldest first: dicts keep insertion order, and old tokens expire first anyway.
            del self._entries[next(iter(self._entries))]
        self._entries[token] = _VerifiedToken(claims, kid, key, expires_at)


async def verify_access_token(
    token: str,
    keys: KeySetProvider,
    settings: Settings,
    *,
    leeway: int = CLOCK_LEEWAY_SECONDS,
    cache: VerifiedTokenCache | None = None,
) -> TokenClaims:
    """The verified claims of `token`; any doubt is an `AuthenticationError` saying exactly why.

    With a `cache`, a token verified before is answered from it while its key and ``exp``
    still hold (see `VerifiedTokenCache`).
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationError(N_("The access token is malformed."))
    if cache is not None and (cached := await cache.lookup(token, keys, leeway)) is not None:
        return cached
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError, TypeError):
        raise AuthenticationError(N_("The access token is malformed.")) from None
    if header.get("alg") not in ACCESS_TOKEN_ALGORITHMS:
        raise AuthenticationError(N_("The access token uses an unsupported algorithm."))
    if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
        raise AuthenticationError(N_("The token is not an access token."))
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthenticationError(N_("The access token does not name its signing key."))
    key = await _signing_key(keys, kid)
    try:
        decoded = jwt.decode(token, key, algorithms=ACCESS_TOKEN_ALGORITHMS)
    except BadSignatureError:
        raise AuthenticationError(N_("The access token signature is invalid.")) from None
    except JoseError:
        raise AuthenticationError(N_("The access token is malformed.")) from None
    try:
        _claims_registry(settings, leeway).validate(decoded.claims)
    except ClaimError as error:
        raise _claim_failure(error) from None
    claims = _claims_from_payload(decoded.claims)
    if cache is not None:
        cache.remember(token, kid, key, claims, decoded.claims["exp"])
    return claims


# -- revocation -----------------------------------------------------------------------------


class AccessDenylist(Protocol):
    async def is_revoked(self, jti: str) -> bool: ...


class ValkeyDenylist:
    """Revoked access tokens by ``jti``, each kept only until the token would expire anyway.

    Every check asks Valkey, but checks arriving together share one round trip: while an
    ``MGET`` is on the wire, new checks queue up and the next ``MGET`` carries them all. A
    check is always answered by a command sent after it was asked, so a revocation Valkey
    acknowledged before a request arrived is seen by that request. On a busy service this
    turns one client round trip per request into one per batch: the client library's CPU
    per command, not Valkey, was what the check cost.
    """

    def __init__(self, client: Valkey, *, max_batch: int = DENYLIST_MAX_BATCH) -> None:
        self._client = client
        self._max_batch = max_batch
        self._waiting: list[tuple[str, asyncio.Future[bool]]] = []
        self._drain_task: asyncio.Task[None] | None = None

    @staticmethod
    def key(jti: str) -> str:
        return DENYLIST_KEY.format(jti=jti)

    async def revoke(self, jti: str, ttl: int) -> None:
        await self._client.set(self.key(jti), "1", ex=max(1, int(ttl)))

    async def is_revoked(self, jti: str) -> bool:
        loop = asyncio.get_running_loop()
        draining = self._drain_task
        if draining is not None and not draining.done() and draining.get_loop() is not loop:
            # Another event loop (a test portal thread) owns the queue: ask on our own.
            return bool(await self._client.exists(self.key(jti)))
        answer: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((self.key(jti), answer))
        if draining is None or draining.done():
            self._drain_task = loop.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        batch: list[tuple[str, asyncio.Future[bool]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    values = await self._client.mget([key for key, _ in batch])
                except Exception as exc:  # every waiter fails closed with the real cause
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for (_, answer), value in zip(batch, values, strict=True):
                    if not answer.done():
                        answer.set_result(value is not None)
        finally:
            # Cancelled (the loop is closing): nobody may wait forever for an answer.
            stranded, self._waiting = [*batch, *self._waiting], []
            for _, answer in stranded:
                if not answer.done():
                    answer.cancel()


# -- Litestar integration -------------------------------------------------------------------


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError(N_("An access token is required: send Authorization: Bearer <token>."))
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(N_("The Authorization header must use the Bearer scheme."))
    return token.strip()


class JWTAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``request.user`` to `TokenClaims` and ``request.auth`` to the raw token.

    Routes with ``opt={"public": True}`` and `UNAUTHENTICATED_PATHS` are served without a token.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        key_set: KeySetProvider,
        settings: Settings,
        denylist: AccessDenylist | None = None,
        verified_tokens: VerifiedTokenCache | None = None,
        exclude: str | list[str] | None = None,
        exclude_from_auth_key: str = PUBLIC_OPT_KEY,
        scopes: Scopes | None = None,
    ) -> None:
        super().__init__(
            app,
            exclude=list(UNAUTHENTICATED_PATHS) if exclude is None else exclude,
            exclude_from_auth_key=exclude_from_auth_key,
            scopes=scopes,
        )
        self.key_set = key_set
        self.settings = settings
        self.denylist = denylist
        # Litestar builds this middleware once per route: share one cache across them.
        self.verified_tokens = VerifiedTokenCache() if verified_tokens is None else verified_tokens

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection.headers.get("authorization"))
        claims = await verify_access_token(token, self.key_set, self.settings, cache=self.verified_tokens)
        if self.denylist is not None and await self._revoked(claims.jti):
            raise AuthenticationError(N_("The access token has been revoked."))
        structlog.contextvars.bind_contextvars(tenant_id=str(claims.tenant_id), user_id=str(claims.user_id))
        current_tenant_id.set(claims.tenant_id)
        if locale := normalize_locale(claims.locale):
            current_locale.set(locale)
        return AuthenticationResult(user=claims, auth=token)

    async def _revoked(self, jti: str) -> bool:
        assert self.denylist is not None  # noqa: S101 - narrowed by the caller
        try:
            return await self.denylist.is_revoked(jti)
        except Exception as exc:
            # Fail closed: a token we cannot check might be a logged-out one.
            logger.warning("denylist unavailable", error=repr(exc))
            raise ServiceUnavailableError(N_("Authentication is temporarily unavailable.")) from exc


def claims_from_scope(scope: Scope) -> TokenClaims:
    user = scope.get("user")
    if not isinstance(user, TokenClaims):
        raise AuthenticationError(N_("An access token is required: send Authorization: Bearer <token>."))
    return user


def current_claims(connection: ASGIConnection[Any, Any, Any, Any]) -> TokenClaims:
    """The caller's claims; 401 where no authentication ran (a public route)."""
    return claims_from_scope(connection.scope)


def provide_claims(scope: Scope) -> TokenClaims:
    """Litestar dependency for HTTP and WebSocket handlers.

    ``dependencies={"claims": Provide(provide_claims, sync_to_thread=False)}`` and a handler
    parameter ``claims: NamedDependency[TokenClaims]``.
    """
    return claims_from_scope(scope)


def requires_roles(*roles: str) -> Guard:
    """A guard letting through callers holding any of `roles`; SUPERADMIN always passes."""
    wanted = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        claims = current_claims(connection)
        if not claims.has_any_role(wanted):
            raise PermissionDeniedError(
                N_("This action requires one of these roles: {roles}."), roles=", ".join(sorted(wanted))
            )

    return guard


def build_key_set_provider(settings: Settings, http: httpx.AsyncClient) -> JWKSClient:
    """The default: identity's JWKS endpoint, cached as configured."""
    return JWKSClient(settings.resolved_jwks_url(), settings.jwks_cache_seconds, http)
