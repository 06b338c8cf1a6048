"""Signs access tokens the way identity does, so the kernel's verifier is tested against real JWS."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import Key, KeySet, OKPKey

from api.common.settings import Settings


def new_signing_key(kid: str | None = None) -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid or uuid.uuid4().hex}, private=True)


def public_jwks(*keys: Key) -> dict[str, Any]:
    return dict(KeySet(list(keys)).as_dict(private=False))


def access_claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(uuid.uuid4()),
        "tid": str(uuid.uuid4()),
        "roles": ["MEMBER"],
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + settings.access_token_ttl_seconds,
        "sid": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign_access_token(
    key: Key,
    settings: Settings,
    *,
    header: dict[str, Any] | None = None,
    algorithm: str = "Ed25519",
    **claim_overrides: Any,
) -> str:
    """A token signed by `key`; ``header``/claim overrides of None drop the entry."""
    protected: dict[str, Any] = {"alg": algorithm, "typ": "at+jwt", "kid": key.kid}
    protected.update(header or {})
    protected = {name: value for name, value in protected.items() if value is not None}
    return jwt.encode(
        protected, access_claims(settings, **claim_overrides), key, algorithms=[algorithm], default_type=None
    )


def unsigned_token(settings: Settings, kid: str) -> str:
    """``alg: none``: what an attacker sends hoping the verifier trusts the header."""

    def segment(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    header = {"alg": "none", "typ": "at+jwt", "kid": kid}
    return f"{segment(header)}.{segment(access_claims(settings))}."
