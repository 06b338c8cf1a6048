"""Temporal unreachable: the request is marked FAILED at once and the client told to retry (503)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.common.settings import Settings
from api.content import repository
from api.content.quotas import month_window
from infra.stack import free_port
from tests.integration.content.support import (
    TokenMint,
    insert_unstarted,
    report_body,
    running_content,
)

pytestmark = pytest.mark.integration


async def test_a_request_that_cannot_be_queued_fails_clearly_and_costs_nothing(
    settings: Settings, mint: TokenMint
) -> None:
    unreachable = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with running_content(unreachable, mint) as client:
        owner = mint.caller(locale="pt_BR")
        key = "tentativa-1"

        refused = await client.post(
            "/v1/reports",
            json=report_body(),
            headers=owner.with_headers(Idempotency_Key=key, Accept_Language="en"),
        )

        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) > 0
        problem = refused.json()
        assert problem["code"] == "queue-unavailable"
        assert problem["detail"].startswith("Não é possível gerar relatórios agora"), (
            "the token's locale wins"
        )
        stored = await client.get(f"/v1/reports/{problem['reportId']}", headers=owner.headers)
        assert stored.status_code == 200
        failed = stored.json()
        assert failed["status"] == "FAILED"
        assert failed["errorCode"] == "QUEUE_UNAVAILABLE"
        assert failed["errorMessage"].startswith("Não foi possível colocar o relatório na fila")
        assert failed["completedAt"] is not None

        retried = await client.post(
            "/v1/reports", json=report_body(), headers=owner.with_headers(Idempotency_Key=key)
        )
        assert retried.status_code == 503, "the key was released: the retry is a new attempt, not a replay"
        assert retried.json()["reportId"] != problem["reportId"]

        readiness = await client.get("/health/ready")
        assert readiness.status_code == 200, "reads and downloads still work without Temporal"
        listed = await client.get("/v1/reports", params={"status": "FAILED"}, headers=owner.headers)
        assert listed.json()["totalItems"] == 2
        window = month_window(datetime.now(UTC))
        async with client.runtime.work(owner.tenant_id) as work:
            used = await repository.count_requests(
                work.connection, owner.tenant_id, "REPORT", since=window.starts_at, until=window.resets_at
            )
        assert used == 0, "requests that were never queued do not count towards the quota"

        unknown_fate = await insert_unstarted(client.runtime, owner)
        cancel = await client.post(
            f"/v1/reports/{unknown_fate.request_id}/cancel", headers=owner.with_headers(Accept_Language="en")
        )
        assert cancel.status_code == 503, "whether its workflow runs cannot be known now"
        assert cancel.json()["code"] == "queue-unavailable"
        assert int(cancel.headers["retry-after"]) > 0
        noted = (await client.get(f"/v1/reports/{unknown_fate.request_id}", headers=owner.headers)).json()
        assert noted["status"] == "PENDING"
        assert noted["cancelRequestedAt"] is not None, "the wish is kept; a retry completes it"
