"""Session channel tests over the session's real PostgreSQL (dojo database), Valkey and Temporal,
with a real sandbox worker polling a task queue of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from activities.sandbox import SandboxActivities
from api.common.settings import Settings
from api.common.storage import LocalBlobStorage, local_blob_storage
from infra.database import migrate
from realtime.dojos.piccolo_conf import build_engine
from realtime.sandbox import Limits, SandboxLimits, SandboxUnavailable
from realtime.sandbox.limits import COMPILE_LIMITS
from realtime.session import SessionConfig
from temporal.client import connect_client
from temporal.worker import build_worker
from tests.integration.realtime_session.support import (
    Parts,
    ShiftedClock,
    StandInLiveRooms,
    StandInRoomAccess,
    TokenMint,
)
from tests.integration.sandbox.support import UidBlock, claim_uid_block


@pytest.fixture(scope="session")
async def settings(stack_settings: Settings) -> Settings:
    """The stack with the dojo database migrated (idempotent, whether or not the session did it)."""
    await migrate(stack_settings, "realtime")
    return stack_settings


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[object]:
    """The dojo database as its application role (forced row-level security)."""
    engine = build_engine(settings)
    await engine.start_connection_pool(min_size=1, max_size=8)
    yield engine
    await engine.close_connection_pool()


@pytest.fixture(scope="session")
def mint(settings: Settings) -> TokenMint:
    return TokenMint(settings)


@pytest.fixture(scope="session")
def storage(settings: Settings) -> LocalBlobStorage:
    return local_blob_storage(settings)


@pytest.fixture(scope="session")
async def temporal(settings: Settings) -> Client:
    return await connect_client(settings, wait_seconds=30)


@pytest.fixture(scope="session")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="session")
def uid_block() -> Iterator[UidBlock]:
    with claim_uid_block() as block:
        yield block


@pytest.fixture(scope="session")
async def sandbox_queue(settings: Settings, temporal: Client, uid_block: UidBlock) -> AsyncIterator[str]:
    """A real sandbox worker (bubblewrap, dedicated uids) polling a task queue of the session's own."""
    sandbox = uid_block.engine(
        SandboxLimits(run=Limits(cpu_seconds=2, wall_seconds=5), compile=COMPILE_LIMITS)
    )
    try:
        await sandbox.probe()
    except SandboxUnavailable as exc:
        pytest.skip(f"the sandbox cannot run on this host: {exc.reason}")
    queue = f"sandbox-session-test-{uuid.uuid4().hex[:8]}"
    async with SandboxActivities(sandbox) as activities:
        async with build_worker("sandbox", temporal, settings, task_queue=queue, activities=activities):
            yield queue


@pytest.fixture
def config() -> SessionConfig:
    """Fast rhythms, so the loops' effects show within a test; the limits are the defaults."""
    return SessionConfig(
        timer_poll_seconds=0.05,
        tick_seconds=0.3,
        presence_refresh_seconds=0.5,
        presence_ttl_seconds=3.0,
        snapshot_interval_seconds=0.5,
        snapshot_poll_seconds=0.1,
        run_task_queue="sandbox-unpolled",
        run_result_timeout_seconds=20.0,
    )


@pytest.fixture
def parts(
    settings: Settings,
    mint: TokenMint,
    engine: object,
    storage: LocalBlobStorage,
    temporal: Client,
    config: SessionConfig,
    clock: ShiftedClock,
) -> Parts:
    return Parts(
        settings=settings,
        mint=mint,
        engine=engine,
        access=StandInRoomAccess(engine),
        live=StandInLiveRooms(),
        storage=storage,
        temporal=temporal,
        config=config,
        clock=clock,
    )
