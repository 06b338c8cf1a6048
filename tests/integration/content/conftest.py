"""One content app per test module, over the session's real PostgreSQL, Valkey and Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from api.common.settings import Settings
from infra.database import migrate
from temporal.client import connect_client
from tests.integration.content.support import ContentClient, TokenMint, running_content


@pytest.fixture(scope="module")
async def settings(stack_settings: Settings) -> Settings:
    """The stack with the content database migrated (idempotent, until the session does it)."""
    await migrate(stack_settings, "content")
    return stack_settings


@pytest.fixture(scope="module")
def mint(settings: Settings) -> TokenMint:
    return TokenMint(settings)


@pytest.fixture(scope="module")
async def temporal(settings: Settings) -> Client:
    return await connect_client(settings, wait_seconds=30)


@pytest.fixture(scope="module")
async def client(settings: Settings, mint: TokenMint, temporal: Client) -> AsyncIterator[ContentClient]:
    async with running_content(settings, mint, temporal_client=temporal) as test_client:
        yield test_client
