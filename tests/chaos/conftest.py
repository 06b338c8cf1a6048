"""Chaos tests run on the session's real PostgreSQL, Valkey and Temporal, with real worker processes."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from api.common.settings import Settings
from temporal.client import connect_client
from tests.integration.content.support import TokenMint


@pytest.fixture(scope="module")
def settings(stack_settings: Settings) -> Settings:
    """The session's stack, every database migrated."""
    return stack_settings


@pytest.fixture(scope="module")
def mint(settings: Settings) -> TokenMint:
    return TokenMint(settings)


@pytest.fixture(scope="module")
async def temporal(settings: Settings) -> Client:
    return await connect_client(settings, wait_seconds=30)
