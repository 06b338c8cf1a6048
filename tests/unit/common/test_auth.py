"""Access-token verification: only identity's Ed25519 at+jwt tokens, with every failure named."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from litestar import Litestar, get

from api.common.auth import (
    JWKSClient,
    StaticKeySet,
    TokenClaims,
    bearer_token,
    verify_access_token,
)
from api.common.errors import AuthenticationError, ServiceUnavailableError
from api.common.settings import Settings
from tests.unit.common.token_factory import (
    new_signing_key,
    public_jwks,
    sign_access_token,
    unsigned_token,
)

pytestmark = [pytest.mark.unit, pytest.mark.security]

SETTINGS = Settings()
KEY = new_signing_key("key-1")
KEYS = StaticKeySet([KEY])


async def _rejection(token: str, keys: Any = KEYS) -> str:
    with pytest.raises(AuthenticationError) as caught:
        await verify_access_token(token, keys, SETTINGS)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
    return str(caught.value)


async def test_a_valid_token_yields_its_claims() -> None:
    user_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    token = sign_access_token(
        KEY, SETTINGS, sub=str(user_id), tid=str(tenant_id), roles=["ADMIN", "MEMBER"], locale="en", sid="s-1"
    )
    claims = await verify_access_token(token, KEYS, SETTINGS)
    assert isinstance(claims, TokenClaims)
    assert (claims.user_id, claims.tenant_id) == (user_id, tenant_id)
    assert claims.roles == ("ADMIN", "MEMBER")
    assert claims.locale == "en"
    assert claims.session_id == "s-1"
    assert not claims.is_superadmin
    assert 0 < claims.seconds_left() <= SETTINGS.access_token_ttl_seconds + 1
    assert claims.expires_at > claims.issued_at


async def test_superadmin_is_recognised() -> None:
    claims = await verify_access_token(sign_access_token(KEY, SETTINGS, roles=["SUPERADMIN"]), KEYS, SETTINGS)
    assert claims.is_superadmin
    assert claims.has_any_role(["OWNER"])


async def test_an_expired_token_is_rejected_beyond_the_leeway_only() -> None:
    now = int(time.time())
    assert await _rejection(sign_access_token(KEY, SETTINGS, iat=now - 1000, exp=now - 60)) == (
        "The access token has expired."
    )
    within_leeway = sign_access_token(KEY, SETTINGS, iat=now - 1000, exp=now - 5)
    assert (await verify_access_token(within_leeway, KEYS, SETTINGS)).jti


async def test_a_token_for_another_audience_or_issuer_is_rejected() -> None:
    assert await _rejection(sign_access_token(KEY, SETTINGS, aud="another-product")) == (
        "The access token is not meant for this service."
    )
    assert await _rejection(sign_access_token(KEY, SETTINGS, iss="someone-else")) == (
        "The access token was issued by an unknown issuer."
    )


async def test_a_token_not_valid_yet_is_rejected() -> None:
    assert await _rejection(sign_access_token(KEY, SETTINGS, nbf=int(time.time()) + 600)) == (
        "The access token is not valid yet."
    )


@pytest.mark.parametrize("claim", ["sub", "tid", "roles", "jti", "exp", "iat", "aud", "iss"])
async def test_every_required_claim_must_be_present(claim: str) -> None:
    dropped: dict[str, Any] = {claim: None}
    message = await _rejection(sign_access_token(KEY, SETTINGS, **dropped))
    assert message == f"The access token is missing the {claim} claim."


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", "not-a-uuid"), ("tid", "42"), ("roles", "ADMIN"), ("roles", [1, 2]), ("locale", 7)],
)
async def test_malformed_claims_are_rejected(claim: str, value: Any) -> None:
    message = await _rejection(sign_access_token(KEY, SETTINGS, **{claim: value}))
    assert message == f"The access token has an invalid {claim} claim."


async def test_hmac_tokens_are_refused_even_with_the_public_key_as_secret() -> None:
    public_key_bytes = base64.urlsafe_b64decode(str(KEY.as_dict(private=False)["x"]) + "==")
    confused = sign_access_token(OctKey.import_key(public_key_bytes * 2), SETTINGS, algorithm="HS256")
    confused = _with_header(confused, kid=KEY.kid)
    assert await _rejection(confused) == "The access token uses an unsupported algorithm."


async def test_unsigned_tokens_are_refused() -> None:
    assert await _rejection(unsigned_token(SETTINGS, kid=str(KEY.kid))) == (
        "The access token uses an unsupported algorithm."
    )


async def test_rsa_signed_tokens_are_refused() -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    token = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}, {"sub": "x"}, rsa)
    assert await _rejection(token) == "The access token uses an unsupported algorithm."


async def test_the_kid_header_is_required() -> None:
    assert await _rejection(sign_access_token(KEY, SETTINGS, header={"kid": None})) == (
        "The access token does not name its signing key."
    )


@pytest.mark.parametrize("typ", ["JWT", None, "id+jwt"])
async def test_only_access_tokens_are_accepted(typ: str | None) -> None:
    assert await _rejection(sign_access_token(KEY, SETTINGS, header={"typ": typ})) == (
        "The token is not an access token."
    )


async def test_the_rfc_9068_media_type_spelling_is_accepted() -> None:
    token = sign_access_token(KEY, SETTINGS, header={"typ": "application/at+jwt"})
    assert (await verify_access_token(token, KEYS, SETTINGS)).roles == ("MEMBER",)


async def test_a_tampered_payload_breaks_the_signature() -> None:
    token = sign_access_token(KEY, SETTINGS)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["SUPERADMIN"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert await _rejection(f"{header}.{forged}.{signature}") == "The access token signature is invalid."


async def test_a_key_id_borrowed_by_another_key_fails_the_signature() -> None:
    impostor = new_signing_key(str(KEY.kid))
    assert await _rejection(sign_access_token(impostor, SETTINGS)) == "The access token signature is invalid."


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "%%%.###.!!!", "x" * 9000, "ação.ação.ação"])
async def test_garbage_is_malformed(token: str) -> None:
    assert await _rejection(token) == "The access token is malformed."


async def test_an_unknown_kid_without_refresh_source_is_rejected() -> None:
    assert await _rejection(sign_access_token(new_signing_key("other"), SETTINGS)) == (
        "The access token was signed with an unknown key."
    )


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer   tok ", "tok"), ("BEARER t", "t")],
)
def test_bearer_tokens_are_read_from_the_authorization_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc"])
def test_other_authorization_headers_are_refused(header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        bearer_token(header)


def _with_header(token: str, **changes: Any) -> str:
    header_segment, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_segment + "=="))
    header.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{payload}.{signature}"


# -- JWKS over HTTP -------------------------------------------------------------------------


class IdentityKeys:
    """A stand-in identity serving its JWKS over HTTP (a real Litestar app on an ASGI transport)."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.requests = 0

        @get("/.well-known/jwks.json", sync_to_thread=False)
        def jwks() -> Any:
            from litestar import Response

            self.requests += 1
            return Response(content=self.document, status_code=self.status)

        self.app = Litestar(route_handlers=[jwks])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def identity() -> AsyncIterator[tuple[IdentityKeys, httpx.AsyncClient]]:
    server = IdentityKeys()
    transport = httpx.ASGITransport(app=server.app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://identity.test") as http:
        yield server, http


async def test_unknown_kid_triggers_one_rate_limited_jwks_refetch(
    identity: tuple[IdentityKeys, httpx.AsyncClient],
) -> None:
    server, http = identity
    old_key, rotated_key, rogue_key = (
        new_signing_key("old"),
        new_signing_key("rotated"),
        new_signing_key("rogue"),
    )
    server.document = public_jwks(old_key)
    clock = FakeClock()
    client = JWKSClient("http://identity.test/.well-known/jwks.json", 300, http, clock=clock)

    assert (await verify_access_token(sign_access_token(old_key, SETTINGS), client, SETTINGS)).jti
    assert server.requests == 1

    # identity rotates: a token with the new kid makes the service refetch once and succeed
    server.document = public_jwks(old_key, rotated_key)
    clock.now += 40
    assert (await verify_access_token(sign_access_token(rotated_key, SETTINGS), client, SETTINGS)).jti
    assert server.requests == 2

    # a flood of unknown kids within the interval costs identity nothing
    for _ in range(5):
        assert await _rejection(sign_access_token(rogue_key, SETTINGS), client) == (
            "The access token was signed with an unknown key."
        )
    assert server.requests == 2

    clock.now += 31
    await _rejection(sign_access_token(rogue_key, SETTINGS), client)
    assert server.requests == 3


async def test_cached_keys_expire_and_stale_keys_survive_an_outage(
    identity: tuple[IdentityKeys, httpx.AsyncClient],
) -> None:
    server, http = identity
    key = new_signing_key("k")
    server.document = public_jwks(key)
    clock = FakeClock()
    client = JWKSClient("http://identity.test/.well-known/jwks.json", 300, http, clock=clock)
    token = sign_access_token(key, SETTINGS)

    await verify_access_token(token, client, SETTINGS)
    await verify_access_token(token, client, SETTINGS)
    assert server.requests == 1

    clock.now += 301
    server.status = 503
    assert (await verify_access_token(token, client, SETTINGS)).jti  # stale keys beat no keys
    assert server.requests == 2

    clock.now += 31
    server.status = 200
    await verify_access_token(token, client, SETTINGS)
    assert server.requests == 3


async def test_without_any_keys_the_service_is_unavailable_not_unauthenticated(
    identity: tuple[IdentityKeys, httpx.AsyncClient],
) -> None:
    server, http = identity
    server.status = 500
    client = JWKSClient("http://identity.test/.well-known/jwks.json", 300, http, clock=FakeClock())
    with pytest.raises(ServiceUnavailableError):
        await verify_access_token(sign_access_token(KEY, SETTINGS), client, SETTINGS)


async def test_only_ed25519_public_keys_are_taken_from_a_jwks(
    identity: tuple[IdentityKeys, httpx.AsyncClient],
) -> None:
    server, http = identity
    signing = new_signing_key("ed")
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa"})
    server.document = {
        "keys": [
            dict(rsa.as_dict(private=False)),
            dict(signing.as_dict(private=True)),  # a careless identity leaking "d" must not matter
            {**new_signing_key("enc").as_dict(private=False), "use": "enc"},
            {**new_signing_key("eddsa").as_dict(private=False), "alg": "EdDSA"},
            {"kty": "PQC", "kid": "future"},
        ]
    }
    client = JWKSClient("http://identity.test/.well-known/jwks.json", 300, http, clock=FakeClock())
    keys = list(await client.key_set())
    assert [key.kid for key in keys] == ["ed"]
    assert not keys[0].is_private
    assert (await verify_access_token(sign_access_token(signing, SETTINGS), client, SETTINGS)).jti
