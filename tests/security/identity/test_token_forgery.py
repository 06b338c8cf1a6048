"""Forged, altered and misused tokens never get in: the algorithm is pinned and every claim checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from tests.integration.identity.support import IdentityClient, login, runtime_of, seed_tenant

pytestmark = pytest.mark.security


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_forged_and_misused_tokens_are_refused(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)
    genuine = _claims(tokens["accessToken"])
    signing = runtime_of(client).keys.signing_key()
    header = {"alg": "Ed25519", "typ": "at+jwt", "kid": signing.kid}

    def signed(claims: dict[str, Any], *, key: OKPKey = signing.key, **header_changes: Any) -> str:
        return jwt.encode({**header, **header_changes}, claims, key, algorithms=["Ed25519"])

    now = int(time.time())
    head, _, tail = tokens["accessToken"].split(".")
    hs256_input = (
        f"{_json_segment({'alg': 'HS256', 'typ': 'at+jwt', 'kid': signing.kid})}.{_json_segment(genuine)}"
    )
    public_x = str(signing.key.as_dict(private=False)["x"]).encode()
    hs256_signature = _b64(hmac.new(public_x, hs256_input.encode(), hashlib.sha256).digest())
    forgeries = {
        "alg none": f"{_json_segment({'alg': 'none', 'typ': 'at+jwt'})}.{_json_segment(genuine)}.",
        "HS256 keyed with the public key": f"{hs256_input}.{hs256_signature}",
        "foreign key, real kid": signed(genuine, key=OKPKey.generate_key("Ed25519")),
        "unknown kid": signed(genuine, kid="not-a-key-we-have"),
        "plain JWT type": signed(genuine, typ="JWT"),
        "expired": signed({**genuine, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
        "not yet valid": signed({**genuine, "nbf": now + 3600}),
        "other audience": signed({**genuine, "aud": "someone-else"}),
        "other issuer": signed({**genuine, "iss": "evil-identity"}),
        "no tenant": signed({key: value for key, value in genuine.items() if key != "tid"}),
        "tenant not a uuid": signed({**genuine, "tid": "acme"}),
        "roles not a list": signed({**genuine, "roles": "SUPERADMIN"}),
        "refresh token as bearer": tokens["refreshToken"],
        "payload swapped": f"{head}.{_json_segment({**genuine, 'roles': ['SUPERADMIN']})}.{tail}",
    }
    for name, token in forgeries.items():
        response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
        validated = await client.post("/v1/auth/validate", json={"token": token})
        assert validated.json()["valid"] is False, name
    # The control: the genuine claims, properly signed, pass.
    control = await client.get("/v1/me", headers={"Authorization": f"Bearer {signed(genuine)}"})
    assert control.status_code == 200


async def test_a_superadmin_role_cannot_be_minted_by_a_tenant_owner(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    tokens = await login(client, seeded.slug, seeded.owner.email)
    created = await client.post(
        "/v1/users",
        json={"email": f"sa@{seeded.slug}.example.com", "fullName": "Sa", "role": "SUPERADMIN"},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
    )
    promoted = await client.patch(
        f"/v1/users/{seeded.owner.user_id}",
        json={"role": "SUPERADMIN"},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
    )
    assert created.status_code == 422
    assert promoted.status_code == 422
