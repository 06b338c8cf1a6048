"""Access tokens verify from the JWKS alone, survive a key rotation, and validate as the seed says."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.common.settings import Settings
from api.identity.keys import rotate_signing_key
from api.identity.tokens import AccessTokenSubject
from tests.integration.identity.support import (
    IdentityClient,
    bearer,
    identity_settings,
    login,
    running_client,
    runtime_of,
    seed_tenant,
)

pytestmark = pytest.mark.integration


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_with_jwks_only(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """What any relying party does, with `cryptography` alone (no JOSE library involved)."""
    header_segment, payload_segment, signature_segment = token.split(".")
    header = json.loads(_b64decode(header_segment))
    assert header["alg"] == "Ed25519"
    assert header["typ"] == "at+jwt"
    [jwk] = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    assert "d" not in jwk
    public_key = Ed25519PublicKey.from_public_bytes(_b64decode(jwk["x"]))
    public_key.verify(_b64decode(signature_segment), f"{header_segment}.{payload_segment}".encode())
    claims: dict[str, Any] = json.loads(_b64decode(payload_segment))
    return claims


async def test_a_token_verifies_with_the_published_jwks_alone(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)

    response = await client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public, max-age=")
    claims = verify_with_jwks_only(tokens["accessToken"], response.json())
    assert claims["sub"] == str(seeded.owner.user_id)
    assert claims["plan"] == "PRO", "services enforce the tenant's quotas from the token alone"
    header, payload, signature = tokens["accessToken"].split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(InvalidSignature):
        verify_with_jwks_only(f"{header}.{tampered}.{signature}", response.json())


async def test_key_rotation_keeps_tokens_of_the_previous_key_valid(
    stack_settings: Settings, tmp_path: Path
) -> None:
    settings = identity_settings(stack_settings, var_dir=tmp_path)
    async with running_client(settings) as client:
        seeded = await seed_tenant(client)
        before = await login(client, seeded.slug, seeded.owner.email)
        first_kid = json.loads(_b64decode(before["accessToken"].split(".")[0]))["kid"]
        key_files = list((tmp_path / "keys").glob("*.jwk.json"))
        assert [oct(path.stat().st_mode & 0o777) for path in key_files] == ["0o600"]
        assert oct((tmp_path / "keys").stat().st_mode & 0o777) == "0o700"

        rotated = rotate_signing_key(settings)  # an operator command, in its own key store

        after = await login(client, seeded.slug, seeded.owner.email)
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == [rotated.kid, first_kid]
        assert json.loads(_b64decode(after["accessToken"].split(".")[0]))["kid"] == rotated.kid
        verify_with_jwks_only(before["accessToken"], jwks)
        verify_with_jwks_only(after["accessToken"], jwks)
        assert (await client.get("/v1/me", headers=bearer(before))).status_code == 200
        assert (await client.get("/v1/me", headers=bearer(after))).status_code == 200

        rotate_signing_key(settings)  # the first key is retired now

        retired = await client.get("/v1/me", headers={**bearer(before), "Accept-Language": "en"})
        assert retired.status_code == 401
        assert retired.json()["detail"] == "The access token was signed with an unknown key."
        assert (await client.get("/v1/me", headers=bearer(after))).status_code == 200
        assert len(list((tmp_path / "keys").glob("*.jwk.json"))) == 2


async def test_validate_reports_what_a_service_would_conclude(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)
    runtime = runtime_of(client)
    expired = runtime.issuer.issue(
        AccessTokenSubject(
            user_id=seeded.owner.user_id,
            tenant_id=seeded.tenant_id,
            roles=("OWNER",),
            session_id=seeded.tenant_id,
            locale=None,
        ),
        now=time.time() - 3600,
    )
    header = (
        base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()).rstrip(b"=").decode()
    )
    unsigned = f"{header}.{tokens['accessToken'].split('.')[1]}."

    valid = await client.post("/v1/auth/validate", json={"token": tokens["accessToken"]})

    assert valid.status_code == 200
    body = valid.json()
    assert body["valid"] is True
    assert body["userId"] == str(seeded.owner.user_id)
    assert body["tenantId"] == str(seeded.tenant_id)
    assert body["roles"] == ["OWNER"]
    assert body["expirationTime"].startswith(time.strftime("%Y-", time.gmtime()))
    for token in (expired.token, unsigned, "garbage", tokens["refreshToken"]):
        response = await client.post("/v1/auth/validate", json={"token": token})
        assert response.status_code == 200
        assert response.json()["valid"] is False, token
    missing = await client.post("/v1/auth/validate", json={})
    assert missing.status_code == 422
