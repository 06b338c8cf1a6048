"""The realtime service over the session's real PostgreSQL and Valkey, one app per test module.

Each module gets its own app (so stand-ins recorded by one module never leak into another), with
the live side and the search's indexing replaced by stand-ins that record what they were asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.common.settings import Settings
from infra.database import migrate
from tests.integration.realtime.dojos_support import (
    DojoClient,
    StandInChangeListener,
    StandInLiveRooms,
    TokenMint,
    running_realtime,
)


@pytest.fixture(scope="module")
async def settings(stack_settings: Settings) -> Settings:
    """The stack with the dojo database migrated (idempotent; the session migrates it too)."""
    await migrate(stack_settings, "realtime")
    return stack_settings


@pytest.fixture(scope="module")
def mint(settings: Settings) -> TokenMint:
    return TokenMint(settings)


@pytest.fixture(scope="module")
def live_rooms() -> StandInLiveRooms:
    return StandInLiveRooms()


@pytest.fixture(scope="module")
def dojo_changes() -> StandInChangeListener:
    return StandInChangeListener()


@pytest.fixture(scope="module")
async def client(
    settings: Settings, mint: TokenMint, live_rooms: StandInLiveRooms, dojo_changes: StandInChangeListener
) -> AsyncIterator[DojoClient]:
    async with running_realtime(settings, mint, live=live_rooms, changes=dojo_changes) as test_client:
        yield test_client
