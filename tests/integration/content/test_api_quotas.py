"""Reports per month per plan: a clear 429 with when it resets, never one slot taken twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from api.common.settings import Settings
from api.content import repository
from api.content.quotas import month_window, report_quota
from tests.integration.content.support import (
    ContentClient,
    TokenMint,
    create_report,
    insert_unstarted,
    report_body,
    running_content,
    with_quotas,
)

pytestmark = pytest.mark.integration

FREE_LIMIT = 3
PRO_LIMIT = 6


@pytest.fixture(scope="module")
async def quota_client(settings: Settings, mint: TokenMint, temporal: Client) -> AsyncIterator[ContentClient]:
    """An app whose plans allow a few reports, so the limit is reached in a few requests."""
    limited = with_quotas(settings, FREE=FREE_LIMIT, PRO=PRO_LIMIT)
    async with running_content(limited, mint, temporal_client=temporal) as client:
        yield client


def test_the_plan_and_month_rules(settings: Settings) -> None:
    limited = with_quotas(settings, FREE=FREE_LIMIT, PRO=PRO_LIMIT)
    assert report_quota(limited, "PRO").reports_per_month == PRO_LIMIT
    assert report_quota(limited, None).plan == "FREE", "tokens without the claim get the strictest plan"
    assert report_quota(limited, "ENTERPRISE").plan == "FREE"
    december = month_window(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert december.starts_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert december.resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert december.seconds_left(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == 60


async def test_the_free_limit_answers_429_with_when_it_resets(
    quota_client: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller(plan="FREE")
    colleague = mint.caller(owner.tenant_id, plan="FREE")
    await insert_unstarted(quota_client.runtime, owner, created_at=datetime.now(UTC) - timedelta(days=40))
    for caller in (owner, colleague, owner):
        await create_report(quota_client, caller)

    refused = await quota_client.post(
        "/v1/reports", json=report_body(), headers=colleague.with_headers(Accept_Language="en")
    )

    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    window = month_window(datetime.now(UTC))
    assert problem["type"] == "https://mrbill.dev/problems/quota-exceeded"
    assert problem["code"] == "quota-exceeded"
    assert problem["plan"] == "FREE"
    assert problem["limit"] == FREE_LIMIT
    assert problem["used"] == FREE_LIMIT, "counted per tenant; last month's request does not count"
    assert datetime.fromisoformat(problem["resetsAt"]) == window.resets_at
    retry_after = int(refused.headers["retry-after"])
    assert problem["retryAfter"] == retry_after
    expected = (window.resets_at - datetime.now(UTC)).total_seconds()
    assert expected - 5 <= retry_after <= expected + 5
    assert problem["detail"].startswith("The FREE plan allows 3 reports per month")
    portuguese = await quota_client.post(
        "/v1/reports", json=report_body(), headers=owner.with_headers(Accept_Language="pt-BR")
    )
    assert portuguese.json()["detail"].startswith("O plano FREE permite 3 relatórios por mês")

    other_tenant = mint.caller(plan="FREE")
    assert (
        await quota_client.post("/v1/reports", json=report_body(), headers=other_tenant.headers)
    ).status_code == 202


async def test_failed_requests_give_their_slot_back(quota_client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller(plan="FREE")
    created = [await create_report(quota_client, owner) for _ in range(FREE_LIMIT)]
    assert (
        await quota_client.post("/v1/reports", json=report_body(), headers=owner.headers)
    ).status_code == 429
    async with quota_client.runtime.work(owner.tenant_id) as work:
        await repository.mark_failed(
            work.connection, uuid.UUID(created[0]["id"]), error_code="RENDER_FAILED", error_message="x"
        )
        await repository.mark_cancelled(work.connection, uuid.UUID(created[1]["id"]))
    assert (
        await quota_client.post("/v1/reports", json=report_body(), headers=owner.headers)
    ).status_code == 202
    again = await quota_client.post("/v1/reports", json=report_body(), headers=owner.headers)
    assert again.status_code == 429, "a cancelled request still counts"


async def test_plans_come_from_the_token_and_a_missing_claim_is_the_strictest(
    quota_client: ContentClient, mint: TokenMint
) -> None:
    pro = mint.caller(plan="PRO")
    for _ in range(PRO_LIMIT):
        await create_report(quota_client, pro)
    refused = await quota_client.post("/v1/reports", json=report_body(), headers=pro.headers)
    assert refused.status_code == 429
    assert (refused.json()["plan"], refused.json()["limit"]) == ("PRO", PRO_LIMIT)

    for plan in (None, "ENTERPRISE"):
        legacy = mint.caller(plan=plan)
        for _ in range(FREE_LIMIT):
            await create_report(quota_client, legacy)
        response = await quota_client.post("/v1/reports", json=report_body(), headers=legacy.headers)
        assert response.status_code == 429, plan
        assert response.json()["plan"] == "FREE"


async def test_concurrent_requests_never_take_the_last_slot_twice(
    quota_client: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller(plan="FREE")
    for _ in range(FREE_LIMIT - 1):
        await create_report(quota_client, owner)
    callers = [owner, *(mint.caller(owner.tenant_id) for _ in range(7))]

    responses = await asyncio.gather(
        *(quota_client.post("/v1/reports", json=report_body(), headers=caller.headers) for caller in callers)
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202] + [429] * 7
    async with quota_client.runtime.work(owner.tenant_id) as work:
        window = month_window(datetime.now(UTC))
        used = await repository.count_requests(
            work.connection, owner.tenant_id, "REPORT", since=window.starts_at, until=window.resets_at
        )
    assert used == FREE_LIMIT
