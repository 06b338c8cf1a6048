"""DojoIndexing and DojoIndexReconciliation on the time-skipping server, with the real activities.

Realtime's reads run on the session's real ``dojo`` database (migrated by realtime's own
migrations) as its application role; dojos are written there as the realtime service writes
them (a tenant transaction that raises ``version``). Search's writes run on the real embedded
engine. Only where a test must hold a load in flight is a read wrapped (``StandIn...``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.dojo_search import (
    DojoSearchActivities,
    RealtimeDojoActivities,
    ensure_dojo_reconciliation_schedule,
)
from activities.search import RECONCILIATION_INTERVAL
from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.search.dojo_engine import DojoQuery
from api.search.postgres_engine import PostgresSearchEngine
from infra.database import migrate
from temporal.client import connect_client
from temporal.converter import data_converter
from temporal.interceptors import TenantContextInterceptor
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID
from temporal.worker import QUEUES, WORKFLOW_SANDBOX, indexing_activities
from tests.integration.search.support import migrated
from workflows.dojo_indexing import DojoIndexing, DojoIndexReconciliation
from workflows.dojo_indexing_types import (
    INDEXING_REQUEST_TYPE,
    LOAD_DOJO_DOCUMENT_ACTIVITY,
    RECONCILIATION_WORKFLOW_NAME,
    REINDEX_SIGNAL,
    TASK_QUEUE,
    WORKFLOW_NAME,
    DojoDocument,
    DojoIndexingState,
    DojoIndexRequest,
    DojoReconciliationInput,
    dojo_index_workflow_id,
    dojo_indexing_start,
    start_dojo_indexing,
)
from workflows.poc_indexing_types import ReconciliationReport

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
async def search_engine(stack_settings: Settings) -> AsyncIterator[PostgresSearchEngine]:
    engine = PostgresSearchEngine.from_settings(await migrated(stack_settings))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture(scope="module")
async def realtime(stack_settings: Settings) -> AsyncIterator[RealtimeDojoActivities]:
    """Realtime's reads as its application role, on the database realtime's migrations built."""
    await migrate(stack_settings, "realtime")
    async with RealtimeDojoActivities.from_settings(stack_settings) as activities:
        yield activities


# -- the realtime service's side, as it writes a dojo ---------------------------------------------------


async def create_dojo(
    engine: PostgresEngine,
    tenant: str,
    creator: str,
    *,
    name: str,
    private: bool = False,
    status: str = "SCHEDULED",
    scheduled: datetime | None = None,
) -> str:
    """A dojo at version 1 with its creator taking part, as realtime creates one."""
    dojo_id = str(uuid.uuid4())
    started = datetime.now(UTC) if status == "ACTIVE" else None
    async with tenant_transaction(engine, tenant) as transaction:
        connection = transaction.connection
        await connection.execute(
            "INSERT INTO dojos (dojo_id, tenant_id, creator_id, name, description, language, is_private,"
            " scheduled_start_time, join_code, status, started_at)"
            " VALUES ($1, $2, $3, $4, $5, 'Python', $6, $7, $8, $9, $10)",
            dojo_id,
            tenant,
            creator,
            name,
            f"{name}, described",
            private,
            scheduled or datetime(2030, 1, 10, 18, tzinfo=UTC),
            secrets.token_hex(6).upper(),
            status,
            started,
        )
        await join(connection, tenant, dojo_id, creator, bump=False)
    return dojo_id


async def join(connection: Any, tenant: str, dojo_id: str, user: str, *, bump: bool = True) -> int:
    await connection.execute(
        "INSERT INTO dojo_participants (tenant_id, dojo_id, user_id, display_name)"
        " VALUES ($1, $2, $3, 'Dojoka')",
        tenant,
        dojo_id,
        user,
    )
    if not bump:
        return 1
    version: int = await connection.fetchval(
        "UPDATE dojos SET version = version + 1 WHERE dojo_id = $1 RETURNING version", dojo_id
    )
    return version


async def join_dojo(engine: PostgresEngine, tenant: str, dojo_id: str, user: str) -> int:
    async with tenant_transaction(engine, tenant) as transaction:
        return await join(transaction.connection, tenant, dojo_id, user)


async def rename_dojo(engine: PostgresEngine, tenant: str, dojo_id: str, name: str) -> int:
    async with tenant_transaction(engine, tenant) as transaction:
        version: int = await transaction.connection.fetchval(
            "UPDATE dojos SET name = $2, version = version + 1 WHERE dojo_id = $1 RETURNING version",
            dojo_id,
            name,
        )
    return version


async def set_version(engine: PostgresEngine, tenant: str, dojo_id: str, version: int) -> None:
    async with tenant_transaction(engine, tenant) as transaction:
        await transaction.connection.execute(
            "UPDATE dojos SET version = $2 WHERE dojo_id = $1", dojo_id, version
        )


async def delete_dojo(engine: PostgresEngine, tenant: str, dojo_id: str) -> None:
    async with tenant_transaction(engine, tenant) as transaction:
        await transaction.connection.execute("DELETE FROM dojos WHERE dojo_id = $1", dojo_id)


# -- the indexing queue, and what the read model answers ---------------------------------------------


@asynccontextmanager
async def dojo_indexing_worker(
    env: WorkflowEnvironment, engine: PostgresSearchEngine, realtime: RealtimeDojoActivities
) -> AsyncIterator[str]:
    """The dojo workflows with realtime's reads and search's writes, on a queue of the test's own."""
    task_queue = f"dojo-indexing-test-{uuid.uuid4()}"
    search = DojoSearchActivities(engine, temporal_client=env.client, owns_engine=False)
    worker = Worker(
        env.client,
        task_queue=task_queue,
        workflows=[DojoIndexing, DojoIndexReconciliation],
        activities=[*realtime.activities(), *search.activities()],
        interceptors=[TenantContextInterceptor()],
        workflow_runner=WORKFLOW_SANDBOX,
    )
    async with worker:
        yield task_queue


async def finished(env: WorkflowEnvironment, tenant: str, dojo_id: str) -> DojoIndexingState:
    handle = env.client.get_workflow_handle(
        dojo_index_workflow_id(tenant, dojo_id), result_type=DojoIndexingState
    )
    state: DojoIndexingState = await handle.result()
    return state


async def index(
    env: WorkflowEnvironment, queue: str, tenant: str, dojo_id: str, version: int
) -> DojoIndexingState:
    """What realtime does after a commit, then wait for the run to end (its handle lets the test
    server skip the timers of the wait)."""
    handle = await start_dojo_indexing(
        env.client, DojoIndexRequest(tenant_id=tenant, dojo_id=dojo_id, version=version), task_queue=queue
    )
    return await handle.result()


async def names_seen(engine: PostgresSearchEngine, tenant: str, viewer: str, text: str) -> list[str]:
    result = await engine.dojos.search(DojoQuery(tenant_id=tenant, viewer_id=viewer, text=text))
    return [hit.name for hit in result.hits]


async def indexed_version(engine: PostgresSearchEngine, tenant: str, dojo_id: str) -> int | None:
    versions = await engine.dojos.versions(None, None, tenant_ids=[tenant])
    return next((item.version for item in versions if item.dojo_id == dojo_id), None)


# -- DojoIndexing ------------------------------------------------------------------------------------


async def test_a_new_dojo_becomes_searchable_and_a_private_one_reaches_who_joins(
    time_skipping_env: WorkflowEnvironment,
    search_engine: PostgresSearchEngine,
    realtime: RealtimeDojoActivities,
) -> None:
    tenant, alice, bob = (str(uuid.uuid4()) for _ in range(3))
    dojo_id = await create_dojo(
        realtime.engine, tenant, alice, name="Randori of the indexing workflow", private=True
    )
    async with dojo_indexing_worker(time_skipping_env, search_engine, realtime) as queue:
        state = await index(time_skipping_env, queue, tenant, dojo_id, 1)
        assert (state.requested_version, state.indexed_version, state.passes) == (1, 1, 1)
        assert await names_seen(search_engine, tenant, alice, "randori") == [
            "Randori of the indexing workflow"
        ]
        assert await names_seen(search_engine, tenant, bob, "randori") == []

        version = await join_dojo(realtime.engine, tenant, dojo_id, bob)
        state = await index(time_skipping_env, queue, tenant, dojo_id, version)
    assert (version, state.indexed_version) == (2, 2)
    result = await search_engine.dojos.search(DojoQuery(tenant_id=tenant, viewer_id=bob, text="randori"))
    assert [(hit.dojo_id, hit.participant_count, hit.version) for hit in result.hits] == [(dojo_id, 2, 2)]


class StandInHeldRealtimeActivities(RealtimeDojoActivities):
    """Realtime's real load, held after its read until the test releases it (the only stand-in part)."""

    def __init__(self, engine: PostgresEngine) -> None:
        super().__init__(engine)
        self.load_requests: list[int] = []
        self.first_load_read = asyncio.Event()
        self.release_first_load = asyncio.Event()

    @activity.defn(name=LOAD_DOJO_DOCUMENT_ACTIVITY)
    async def load_dojo_document(self, request: DojoIndexRequest) -> DojoDocument | None:
        self.load_requests.append(request.version)
        document = await RealtimeDojoActivities.load_dojo_document(self, request)
        if len(self.load_requests) == 1:
            self.first_load_read.set()
            await self.release_first_load.wait()
        return document


async def test_versions_written_while_indexing_are_coalesced_and_the_history_replays(
    time_skipping_env: WorkflowEnvironment,
    search_engine: PostgresSearchEngine,
    realtime: RealtimeDojoActivities,
) -> None:
    tenant, alice = str(uuid.uuid4()), str(uuid.uuid4())
    held = StandInHeldRealtimeActivities(realtime.engine)
    dojo_id = await create_dojo(realtime.engine, tenant, alice, name="Draft one")
    async with dojo_indexing_worker(time_skipping_env, search_engine, held) as queue:
        request = DojoIndexRequest(tenant_id=tenant, dojo_id=dojo_id, version=1)
        await start_dojo_indexing(time_skipping_env.client, request, task_queue=queue)
        await asyncio.wait_for(held.first_load_read.wait(), 30)
        for name in ("Draft two", "Final cut"):
            version = await rename_dojo(realtime.engine, tenant, dojo_id, name)
            request = DojoIndexRequest(tenant_id=tenant, dojo_id=dojo_id, version=version)
            await start_dojo_indexing(time_skipping_env.client, request, task_queue=queue)
        held.release_first_load.set()
        state = await finished(time_skipping_env, tenant, dojo_id)
        handle = time_skipping_env.client.get_workflow_handle(dojo_index_workflow_id(tenant, dojo_id))
        history = await handle.fetch_history()

    assert held.load_requests == [1, 3], "three writes, two loads: versions 2 and 3 were coalesced"
    assert (state.requested_version, state.indexed_version, state.passes) == (3, 3, 2)
    assert await indexed_version(search_engine, tenant, dojo_id) == 3
    assert await names_seen(search_engine, tenant, alice, "final cut") == ["Final cut"]
    replayer = Replayer(
        workflows=[DojoIndexing], data_converter=data_converter, workflow_runner=WORKFLOW_SANDBOX
    )
    replay = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replay.replay_failure is None


async def test_a_dojo_gone_from_realtime_is_removed_and_stays_removed(
    time_skipping_env: WorkflowEnvironment,
    search_engine: PostgresSearchEngine,
    realtime: RealtimeDojoActivities,
) -> None:
    tenant, alice = str(uuid.uuid4()), str(uuid.uuid4())
    dojo_id = await create_dojo(realtime.engine, tenant, alice, name="Doomed mob session")
    async with dojo_indexing_worker(time_skipping_env, search_engine, realtime) as queue:
        await index(time_skipping_env, queue, tenant, dojo_id, 1)
        loaded = await realtime.load_dojo_document(DojoIndexRequest(tenant, dojo_id, 1))
        assert loaded is not None
        assert await names_seen(search_engine, tenant, alice, "doomed") == ["Doomed mob session"]
        await delete_dojo(realtime.engine, tenant, dojo_id)
        state = await index(time_skipping_env, queue, tenant, dojo_id, 2)
    assert state.indexed_version == 2
    assert await names_seen(search_engine, tenant, alice, "doomed") == []
    assert not await search_engine.dojos.upsert(loaded), "a late version 1 must not bring it back"


async def test_an_older_version_never_overwrites_a_newer_one(
    time_skipping_env: WorkflowEnvironment,
    search_engine: PostgresSearchEngine,
    realtime: RealtimeDojoActivities,
) -> None:
    tenant, alice = str(uuid.uuid4()), str(uuid.uuid4())
    dojo_id = await create_dojo(realtime.engine, tenant, alice, name="Old title")
    document = await realtime.load_dojo_document(DojoIndexRequest(tenant, dojo_id, 1))
    assert document is not None
    assert await search_engine.dojos.upsert(dataclasses.replace(document, name="Newest title", version=5))
    await set_version(realtime.engine, tenant, dojo_id, 4)
    async with dojo_indexing_worker(time_skipping_env, search_engine, realtime) as queue:
        state = await index(time_skipping_env, queue, tenant, dojo_id, 4)
    assert state.indexed_version == 4
    assert await indexed_version(search_engine, tenant, dojo_id) == 5
    assert await names_seen(search_engine, tenant, alice, "title") == ["Newest title"]


async def test_a_source_that_keeps_serving_an_older_version_fails_the_run(
    time_skipping_env: WorkflowEnvironment,
    search_engine: PostgresSearchEngine,
    realtime: RealtimeDojoActivities,
) -> None:
    tenant, alice = str(uuid.uuid4()), str(uuid.uuid4())
    dojo_id = await create_dojo(realtime.engine, tenant, alice, name="Lagging replica")
    async with dojo_indexing_worker(time_skipping_env, search_engine, realtime) as queue:
        with pytest.raises(WorkflowFailureError) as failure:
            await index(time_skipping_env, queue, tenant, dojo_id, 9)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("RealtimeBehind", True)
    assert await indexed_version(search_engine, tenant, dojo_id) is None


# -- DojoIndexReconciliation ------------------------------------------------------------------------


async def test_drift_is_found_page_by_page_and_repaired(
    time_skipping_env: WorkflowEnvironment,
    search_engine: PostgresSearchEngine,
    realtime: RealtimeDojoActivities,
) -> None:
    tenants = [str(uuid.uuid4()), str(uuid.uuid4())]
    alice = str(uuid.uuid4())
    missing = await create_dojo(realtime.engine, tenants[0], alice, name="Never indexed")
    stale = await create_dojo(realtime.engine, tenants[1], alice, name="Stale name")
    current = await create_dojo(realtime.engine, tenants[0], alice, name="Already current")
    indexed: list[DojoDocument] = []
    for tenant, dojo_id in ((tenants[1], stale), (tenants[0], current)):
        document = await realtime.load_dojo_document(DojoIndexRequest(tenant, dojo_id, 1))
        assert document is not None
        assert await search_engine.dojos.upsert(document)
        indexed.append(document)
    await rename_dojo(realtime.engine, tenants[1], stale, "Fresh name")
    # In realtime's range of the test's tenants, but not in realtime.
    orphan = dataclasses.replace(indexed[1], dojo_id=str(uuid.uuid4()), name="Orphaned dojo", version=3)
    assert await search_engine.dojos.upsert(orphan)

    async with dojo_indexing_worker(time_skipping_env, search_engine, realtime) as queue:
        report: ReconciliationReport = await time_skipping_env.client.execute_workflow(
            RECONCILIATION_WORKFLOW_NAME,
            DojoReconciliationInput(page_size=2, task_queue=queue, tenant_ids=tenants),
            id=f"dojo-reconciliation-test-{uuid.uuid4()}",
            task_queue=queue,
            result_type=ReconciliationReport,
        )
        for tenant, dojo_id in ((tenants[0], missing), (tenants[1], stale), (tenants[0], orphan.dojo_id)):
            await finished(time_skipping_env, tenant, dojo_id)

    assert (report.pages, report.checked) == (2, 3)
    assert (report.missing, report.stale, report.orphaned, report.ahead, report.requested) == (1, 1, 1, 0, 3)
    assert await names_seen(search_engine, tenants[0], alice, "never indexed") == ["Never indexed"]
    assert await names_seen(search_engine, tenants[1], alice, "name") == ["Fresh name"]
    assert await names_seen(search_engine, tenants[0], alice, "orphaned") == []
    assert await indexed_version(search_engine, tenants[0], orphan.dojo_id) == 4


# -- how realtime starts it, and how the worker serves it ------------------------------------------------


def test_the_start_arguments_are_a_deterministic_signal_with_start() -> None:
    request = DojoIndexRequest(tenant_id="tenant-1", dojo_id="dojo-1", version=7)
    start = dojo_indexing_start(request)
    assert (start.workflow, start.id, start.task_queue) == (
        WORKFLOW_NAME,
        "dojo-index/tenant-1/dojo-1",
        TASK_QUEUE,
    )
    assert (start.start_signal, start.start_signal_args, start.arg) == (REINDEX_SIGNAL, [request], request)
    assert start.id_reuse_policy == WorkflowIDReusePolicy.ALLOW_DUPLICATE
    assert start.search_attributes.get(TENANT_ID) == "tenant-1"
    assert start.search_attributes.get(REQUEST_TYPE) == INDEXING_REQUEST_TYPE


def test_the_indexing_queue_serves_the_dojo_workflows_and_every_activity_they_call(
    stack_settings: Settings,
) -> None:
    registration = QUEUES[TASK_QUEUE]
    assert {DojoIndexing, DojoIndexReconciliation} <= set(registration.workflows)
    assert "realtime" in registration.databases
    served = {
        getattr(served_activity, "__temporal_activity_definition").name
        for served_activity in indexing_activities(stack_settings).activities()
    }
    assert {
        "load_dojo_document",
        "realtime_dojo_versions_page",
        "upsert_dojo_document",
        "delete_dojo_document",
        "index_dojo_versions_range",
        "request_dojo_reindex",
        "load_poc_document",
        "upsert_document",
    } <= served


async def test_the_reconciliation_schedule_is_created_once_then_kept_up_to_date(
    stack_settings: Settings,
) -> None:
    client = await connect_client(stack_settings)
    schedule_id = f"dojo-index-reconciliation-test-{uuid.uuid4()}"
    try:
        assert await ensure_dojo_reconciliation_schedule(client, schedule_id=schedule_id)
        described = await client.get_schedule_handle(schedule_id).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == (RECONCILIATION_WORKFLOW_NAME, TASK_QUEUE)
        assert [spec.every for spec in described.schedule.spec.intervals] == [RECONCILIATION_INTERVAL]
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert not await ensure_dojo_reconciliation_schedule(
            client, schedule_id=schedule_id, interval=timedelta(minutes=5)
        )
        updated = await client.get_schedule_handle(schedule_id).describe()
        assert [spec.every for spec in updated.schedule.spec.intervals] == [timedelta(minutes=5)]
    finally:
        await client.get_schedule_handle(schedule_id).delete()
