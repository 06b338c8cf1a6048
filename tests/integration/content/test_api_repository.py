"""The repository functions the workflow's activities call: a state machine no retry can break.

They run as the application role inside `tenant_transaction`, as the activities run them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.content import repository
from api.content.piccolo_conf import build_engine
from api.content.repository import ContentRequestRecord, NewContentRequest
from workflows.report_generation_types import report_workflow_id

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def engine(settings: Settings) -> AsyncIterator[Any]:
    engine = build_engine(settings)
    await engine.start_connection_pool(min_size=1, max_size=4)
    try:
        yield engine
    finally:
        await engine.close_connection_pool()


class Request:
    """One request of a fresh tenant, and transactions in that tenant."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.tenant_id = uuid.uuid4()
        self.user_id = uuid.uuid4()
        self.request_id = uuid.uuid4()

    def transaction(self) -> Any:
        return tenant_transaction(self.engine, self.tenant_id)

    async def insert(self) -> ContentRequestRecord:
        async with self.transaction() as transaction:
            record = await repository.insert_request(
                transaction.connection,
                NewContentRequest(
                    request_id=self.request_id,
                    tenant_id=self.tenant_id,
                    user_id=self.user_id,
                    type="REPORT",
                    title="Relatório",
                    locale="pt_BR",
                    format="csv",
                    workflow_id=report_workflow_id(str(self.tenant_id), str(self.request_id)),
                    parameters={"group_by": ["month"], "time_zone": "America/Sao_Paulo"},
                ),
            )
        assert record is not None
        return record

    async def fetch(self) -> ContentRequestRecord:
        async with self.transaction() as transaction:
            record = await repository.fetch_request(transaction.connection, self.request_id)
        assert record is not None
        return record

    async def claim(self) -> ContentRequestRecord | None:
        async with self.transaction() as transaction:
            return await repository.claim_request(transaction.connection, self.request_id)

    async def progress(self, progress: int, step: str) -> None:
        async with self.transaction() as transaction:
            await repository.update_progress(
                transaction.connection, self.request_id, progress=progress, step=step
            )


async def test_a_request_goes_from_pending_to_completed(engine: Any) -> None:
    request = Request(engine)
    inserted = await request.insert()
    assert (inserted.status, inserted.progress, inserted.step, inserted.started_at) == (
        "PENDING",
        0,
        None,
        None,
    )
    assert inserted.parameters == {"group_by": ["month"], "time_zone": "America/Sao_Paulo"}

    claimed = await request.claim()
    assert claimed is not None
    assert (claimed.status, claimed.step) == ("PROCESSING", "selecting")
    assert claimed.started_at is not None
    again = await request.claim()
    assert again == claimed, "a retried claim returns the record unchanged"

    await request.progress(40, "rendering")
    await request.progress(30, "aggregating")  # a late retry of an earlier step
    await request.progress(250, "uploading")
    current = await request.fetch()
    assert (current.progress, current.step) == (100, "uploading")

    async with request.transaction() as transaction:
        completed = await repository.mark_completed(
            transaction.connection,
            request.request_id,
            result_key="tenants/t/users/u/reports/r.csv",
            media_type="text/csv",
            size=123,
            poc_count=4,
        )
        repeated = await repository.mark_completed(
            transaction.connection,
            request.request_id,
            result_key="tenants/t/users/u/reports/r.csv",
            media_type="text/csv",
            size=123,
            poc_count=4,
        )
    assert completed
    assert repeated, "an identical retry of the last step still succeeds"
    done = await request.fetch()
    assert (done.status, done.progress, done.step, done.poc_count, done.result_size) == (
        "COMPLETED",
        100,
        "completed",
        4,
        123,
    )
    assert done.completed_at is not None
    assert done.is_terminal


async def test_terminal_states_stick(engine: Any) -> None:
    for first in ("COMPLETED", "FAILED", "CANCELLED"):
        request = Request(engine)
        await request.insert()
        await request.claim()
        async with request.transaction() as transaction:
            connection = transaction.connection
            if first == "COMPLETED":
                assert await repository.mark_completed(
                    connection, request.request_id, result_key="a", media_type="x", size=1, poc_count=1
                )
            elif first == "FAILED":
                assert await repository.mark_failed(
                    connection, request.request_id, error_code="NO_POCS", error_message="Nada."
                )
            else:
                assert await repository.mark_cancelled(connection, request.request_id)
        before = await request.fetch()

        assert await request.claim() is None
        await request.progress(90, "late")
        async with request.transaction() as transaction:
            connection = transaction.connection
            assert (
                await repository.mark_completed(
                    connection, request.request_id, result_key="b", media_type="x", size=2, poc_count=2
                )
                is False
            )
            assert await repository.mark_failed(
                connection, request.request_id, error_code="LATE", error_message="late"
            ) is (first == "FAILED")
            assert await repository.mark_cancelled(connection, request.request_id) is (first == "CANCELLED")
            assert await repository.request_cancel(connection, request.request_id) is None
            await repository.record_selected_pocs(
                connection, request.tenant_id, request.request_id, [uuid.uuid4()]
            )
            assert await repository.selected_poc_ids(connection, request.request_id) == []

        assert await request.fetch() == before, first


async def test_a_pending_request_may_fail_or_be_cancelled_before_it_is_claimed(engine: Any) -> None:
    cancelled = Request(engine)
    await cancelled.insert()
    async with cancelled.transaction() as transaction:
        noted = await repository.request_cancel(transaction.connection, cancelled.request_id)
        assert noted is not None
        assert noted.cancel_requested_at is not None
        assert await repository.mark_cancelled(transaction.connection, cancelled.request_id)
    assert await cancelled.claim() is None
    assert (await cancelled.fetch()).status == "CANCELLED"

    failed = Request(engine)
    await failed.insert()
    async with failed.transaction() as transaction:
        assert await repository.mark_failed(
            transaction.connection, failed.request_id, error_code="INVALID", error_message="Inválido."
        )
    record = await failed.fetch()
    assert (record.status, record.error_code, record.error_message) == ("FAILED", "INVALID", "Inválido.")


async def test_selected_pocs_are_recorded_idempotently_in_order(engine: Any) -> None:
    request = Request(engine)
    await request.insert()
    await request.claim()
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for poc_ids in ([third, first, second, first], [third, first, second], [second, third]):
        async with request.transaction() as transaction:
            await repository.record_selected_pocs(
                transaction.connection, request.tenant_id, request.request_id, poc_ids
            )
    async with request.transaction() as transaction:
        assert await repository.selected_poc_ids(transaction.connection, request.request_id) == [
            second,
            third,
        ]
    assert (await request.fetch()).poc_count == 2


async def test_nothing_exists_outside_the_requests_tenant(engine: Any) -> None:
    request = Request(engine)
    await request.insert()
    async with tenant_transaction(engine, uuid.uuid4()) as transaction:
        connection = transaction.connection
        assert await repository.fetch_request(connection, request.request_id) is None
        assert await repository.claim_request(connection, request.request_id) is None
        assert not await repository.mark_cancelled(connection, request.request_id)
    assert (await request.fetch()).status == "PENDING"
