"""One catalog app per test module, over the session's real PostgreSQL, Valkey and Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api.common.settings import Settings
from infra.database import migrate
from tests.integration.catalog.support import TokenMint, running_catalog


@pytest.fixture(scope="module")
async def settings(stack_settings: Settings) -> Settings:
    """The stack with the catalog database migrated (idempotent, until the session does it)."""
    await migrate(stack_settings, "catalog")
    return stack_settings


@pytest.fixture(scope="module")
def mint(settings: Settings) -> TokenMint:
    return TokenMint(settings)


@pytest.fixture(scope="module")
async def client(settings: Settings, mint: TokenMint) -> AsyncIterator[AsyncTestClient[Any]]:
    async with running_catalog(settings, mint) as test_client:
        yield test_client
