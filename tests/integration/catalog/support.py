"""Shared by catalog's integration and security tests: a running catalog app and its callers.

The catalog never calls identity: it only verifies access tokens. So tests sign real Ed25519
tokens with a key of their own and hand the app a `StaticKeySet` of it, standing in for
identity's JWKS; tenants and users are just fresh UUIDs in those tokens.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import OKPKey
from litestar.testing import AsyncTestClient
from PIL import Image
from temporalio.client import Client

from api.catalog.app import create_app
from api.catalog.deps import CatalogRuntime
from api.common.auth import StaticKeySet
from api.common.settings import Settings
from tests.unit.common.token_factory import new_signing_key, sign_access_token


@dataclass(frozen=True)
class Caller:
    """A user of a tenant, with a signed access token for the catalog."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    roles: tuple[str, ...]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def with_language(self, language: str) -> dict[str, str]:
        return {**self.headers, "Accept-Language": language}


class TokenMint:
    """Signs tokens the way identity does, with a key the test app trusts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key: OKPKey = new_signing_key()
        self.key_set = StaticKeySet([self.key])

    def caller(
        self, tenant_id: uuid.UUID | None = None, *, roles: tuple[str, ...] = ("MEMBER",), **claims: Any
    ) -> Caller:
        tenant = tenant_id or uuid.uuid4()
        user = uuid.uuid4()
        token = sign_access_token(
            self.key, self.settings, sub=str(user), tid=str(tenant), roles=list(roles), **claims
        )
        return Caller(user_id=user, tenant_id=tenant, roles=roles, token=token)


@asynccontextmanager
async def running_catalog(
    settings: Settings,
    mint: TokenMint,
    *,
    task_queue: str | None = None,
    temporal_client: Client | None = None,
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app over the session's stack; its indexing workflows go to a queue of their own."""
    app = create_app(
        settings,
        key_set=mint.key_set,
        temporal_client=temporal_client,
        indexing_task_queue=task_queue or f"catalog-test-{uuid.uuid4().hex[:8]}",
    )
    async with AsyncTestClient(app) as client:
        yield client


def runtime_of(client: AsyncTestClient[Any]) -> CatalogRuntime:
    runtime: CatalogRuntime = client.app.state.catalog
    return runtime


def poc_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"POC {uuid.uuid4().hex[:8]}",
        "repositoryUrl": "https://github.com/example/poc",
        "description": "Uma prova de conceito.",
        "language": "Python",
        "isPublic": False,
        "tags": ["api"],
        "frameworks": ["FastAPI"],
    }
    body.update(overrides)
    return body


async def create_poc(client: AsyncTestClient[Any], caller: Caller, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/pocs", json=poc_body(**overrides), headers=caller.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def image_bytes(format: str = "PNG", size: tuple[int, int] = (800, 600), mode: str = "RGB") -> bytes:
    image = Image.new(mode, size, (200, 30, 90) if mode == "RGB" else None)
    output = io.BytesIO()
    image.save(output, format)
    return output.getvalue()


def file_path(url: str) -> str:
    """The path and query of a signed link (the test client talks to the app, not the edge)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"
