"""Requesting reports: 202 with a Location, the workflow started with the job, validation, reads and lists.

No worker runs here: each workflow stays pending on this module's own task queue, and the
tests read what content handed Temporal from the workflow's description and history.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from api.content import repository
from temporal.converter import data_converter
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from tests.integration.content.support import (
    ContentClient,
    TokenMint,
    create_report,
    insert_unstarted,
    report_body,
    utc_now,
)
from workflows.report_generation_types import WORKFLOW_NAME, ReportJob, report_workflow_id

pytestmark = pytest.mark.integration


async def _started_job(temporal: Client, workflow_id: str) -> ReportJob:
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            (job,) = await data_converter.decode(payloads, [ReportJob])
            assert isinstance(job, ReportJob)
            return job
    raise AssertionError(f"{workflow_id} has no start event")


async def test_a_request_is_accepted_and_its_workflow_started_with_the_job(
    client: ContentClient, mint: TokenMint, temporal: Client
) -> None:
    owner = mint.caller()
    response = await client.post(
        "/v1/reports",
        json=report_body(
            title="  Minhas   POCs do trimestre ",
            format="XLSX",
            includeTags=["Programação", "API", "programacao"],
            excludeTags=["Legado"],
            groupBy=["month", "language", "month"],
            timeZone="America/Manaus",
        ),
        headers=owner.with_headers(Accept_Language="en"),
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/reports/{body['id']}"
    assert "idempotent-replayed" not in response.headers
    assert body["status"] == "PENDING"
    assert body["progress"] == 0
    assert body["type"] == "REPORT"
    assert body["title"] == "Minhas POCs do trimestre"
    assert body["format"] == "xlsx"
    assert body["locale"] == "en", "no locale in the body or token: Accept-Language decides"
    assert body["timeZone"] == "America/Manaus"
    assert body["includeTags"] == ["Programação", "API"]
    assert body["excludeTags"] == ["Legado"]
    assert body["groupBy"] == ["month", "language"]
    assert body["from"] == "2026-01-01T04:00:00Z", "midnight in Manaus (UTC-4)"
    assert body["to"] == "2026-04-01T04:00:00Z", "the whole last day is included"
    assert body["downloadUrl"] is None
    assert body["estimatedCompletionAt"] is None
    assert body["links"] == {
        "self": f"/v1/reports/{body['id']}",
        "cancel": f"/v1/reports/{body['id']}/cancel",
        "download": None,
    }

    workflow_id = report_workflow_id(str(owner.tenant_id), body["id"])
    description = await temporal.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.workflow_type == WORKFLOW_NAME
    assert description.task_queue == client.runtime.queue.task_queue
    assert description.typed_search_attributes.get(TENANT_ID) == str(owner.tenant_id)
    assert description.typed_search_attributes.get(USER_ID) == str(owner.user_id)
    assert description.typed_search_attributes.get(REQUEST_TYPE) == "REPORT"
    job = await _started_job(temporal, workflow_id)
    assert job == ReportJob(
        request_id=body["id"],
        tenant_id=str(owner.tenant_id),
        user_id=str(owner.user_id),
        title="Minhas POCs do trimestre",
        format="xlsx",
        locale="en",
        from_date="2026-01-01T04:00:00+00:00",
        to_date="2026-04-01T04:00:00+00:00",
        include_tags=["programacao", "api"],
        exclude_tags=["legado"],
        group_by=["month", "language"],
        time_zone="America/Manaus",
    )


async def test_the_locale_comes_from_the_body_then_the_token_then_accept_language(
    client: ContentClient, mint: TokenMint
) -> None:
    from_token = mint.caller(locale="en")
    created = await create_report(client, from_token, headers={"Accept-Language": "pt-BR"}, locale=None)
    assert created["locale"] == "en"
    chosen = await create_report(client, from_token, locale="pt-BR")
    assert chosen["locale"] == "pt-BR"
    neither = await create_report(client, mint.caller(), locale=None, **{"from": None, "to": None})
    assert neither["locale"] == "pt-BR", "the platform's default"
    assert neither["from"] is None
    assert neither["to"] is None


async def test_invalid_fields_are_all_listed_in_the_callers_language(
    client: ContentClient, mint: TokenMint
) -> None:
    caller = mint.caller()
    future = (utc_now() + timedelta(days=3)).date().isoformat()
    response = await client.post(
        "/v1/reports",
        json={
            "title": "   ",
            "format": "docx",
            "from": future,
            "to": "ontem",
            "includeTags": ["ok", "a/b", *[f"t{index}" for index in range(20)]],
            "excludeTags": ["OK"],
            "groupBy": ["language", "weekday"],
            "locale": "fr",
            "timeZone": "Mars/Olympus",
        },
        headers=caller.with_headers(Accept_Language="en"),
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation-failed"
    errors = {error["field"]: error["message"] for error in problem["errors"]}
    assert errors == {
        "title": "Must not be empty.",
        "format": 'Unknown format "docx". Use one of: pdf, xlsx, csv.',
        "from": "Must not be in the future.",
        "to": "Must be a date (2026-01-31) or a date and time (2026-01-31T18:00:00-03:00).",
        "includeTags[1]": "Must not contain slashes, backslashes, commas or control characters.",
        "includeTags": "Must have at most 20 items.",
        "excludeTags[0]": '"OK" is also in includeTags; a tag cannot be both included and excluded.',
        "groupBy[1]": 'Unknown grouping "weekday". Use one of: language, tag, framework, month.',
        "locale": "Must be one of: pt-BR, en.",
        "timeZone": 'Unknown time zone "Mars/Olympus"; use an IANA name such as America/Sao_Paulo.',
    }

    portuguese = await client.post(
        "/v1/reports", json=report_body(format="docx"), headers=caller.with_headers(Accept_Language="pt-BR")
    )
    assert portuguese.json()["errors"] == [
        {"field": "format", "message": 'Formato desconhecido "docx". Use um destes: pdf, xlsx, csv.'}
    ]
    listed = await client.get("/v1/reports", headers=caller.headers)
    assert listed.json()["totalItems"] == 0, "nothing is stored for a refused request"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": "x" * 101}, "title", "Must have at most 100 characters."),
        ({"title": "bell\x07"}, "title", "Must not contain control characters."),
        ({"from": "2026-03-01", "to": "2026-01-31"}, "to", "Must be after the start of the period (from)."),
        ({"from": "2010-01-01", "to": "2026-01-31"}, "to", "The period may cover at most 10 years."),
        ({"from": "2010-01-01", "to": None}, "from", "The period may cover at most 10 years."),
        ({"to": "2999-01-01T00:00:00Z"}, "to", "Must not be in the future."),
        ({"excludeTags": [f"e{index}" for index in range(21)]}, "excludeTags", "Must have at most 20 items."),
    ],
)
async def test_each_rule_a_person_expects(
    client: ContentClient, mint: TokenMint, overrides: dict[str, object], field: str, message: str
) -> None:
    response = await client.post(
        "/v1/reports", json=report_body(**overrides), headers=mint.caller().with_headers(Accept_Language="en")
    )
    assert response.status_code == 422, response.text
    assert {"field": field, "message": message} in response.json()["errors"]


async def test_malformed_bodies_are_refused_before_the_service(
    client: ContentClient, mint: TokenMint
) -> None:
    caller = mint.caller()
    missing = await client.post("/v1/reports", json={"title": "Sem formato"}, headers=caller.headers)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "format"
    unknown = await client.post("/v1/reports", json=report_body(pages=3), headers=caller.headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "pages"
    wrong_type = await client.post(
        "/v1/reports", json=report_body(groupBy="language"), headers=caller.headers
    )
    assert wrong_type.status_code == 422


async def test_a_request_reads_back_with_its_progress_and_estimate(
    client: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller()
    created = await create_report(client, owner)
    request_id = uuid.UUID(created["id"])
    fetched = await client.get(f"/v1/reports/{request_id}", headers=owner.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created

    async with client.runtime.work(owner.tenant_id) as work:
        await repository.claim_request(work.connection, request_id)
        await work.connection.execute(
            "UPDATE content_requests SET started_at = now() - interval '10 seconds' WHERE request_id = $1",
            request_id,
        )
        await repository.update_progress(work.connection, request_id, progress=25, step="rendering")
    running = (await client.get(f"/v1/reports/{request_id}", headers=owner.headers)).json()
    assert running["status"] == "PROCESSING"
    assert running["progress"] == 25
    assert running["step"] == "rendering"
    assert running["startedAt"] is not None
    started = running["startedAt"]
    estimate = running["estimatedCompletionAt"]
    assert estimate is not None
    assert estimate > started
    remaining = (datetime.fromisoformat(estimate) - datetime.fromisoformat(started)).total_seconds()
    assert 35 <= remaining <= 50, "25 % in about 10 s: about 40 s in all"

    async with client.runtime.work(owner.tenant_id) as work:
        await repository.mark_failed(
            work.connection, request_id, error_code="RENDER_FAILED", error_message="Falhou."
        )
    failed = (await client.get(f"/v1/reports/{request_id}", headers=owner.headers)).json()
    assert failed["status"] == "FAILED"
    assert failed["errorCode"] == "RENDER_FAILED"
    assert failed["errorMessage"] == "Falhou."
    assert failed["estimatedCompletionAt"] is None
    assert failed["completedAt"] is not None


async def test_only_the_owner_sees_a_request(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    created = await create_report(client, owner)
    colleague = mint.caller(owner.tenant_id, roles=("OWNER",))
    for path in ("", "/download"):
        response = await client.get(f"/v1/reports/{created['id']}{path}", headers=colleague.headers)
        assert response.status_code == 404, path
        assert response.json()["code"] == "report-not-found"
    assert (
        await client.post(f"/v1/reports/{created['id']}/cancel", headers=colleague.headers)
    ).status_code == 404
    assert (await client.get("/v1/reports", headers=colleague.headers)).json()["totalItems"] == 0
    missing = await client.get(f"/v1/reports/{uuid.uuid4()}", headers=owner.headers)
    assert missing.status_code == 404


async def test_lists_are_mine_newest_first_paged_and_filtered(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller(plan="PRO")
    runtime = client.runtime
    old = await insert_unstarted(runtime, owner, title="Antigo", created_at=utc_now() - timedelta(days=40))
    created = [await create_report(client, owner, format=fmt) for fmt in ("pdf", "csv", "xlsx", "pdf")]
    async with runtime.work(owner.tenant_id) as work:
        await repository.mark_cancelled(work.connection, uuid.UUID(created[1]["id"]))
    await create_report(client, mint.caller(owner.tenant_id))

    first = (await client.get("/v1/reports", params={"pageSize": 2}, headers=owner.headers)).json()
    assert first["totalItems"] == 5
    assert first["totalPages"] == 3
    assert [item["id"] for item in first["items"]] == [created[3]["id"], created[2]["id"]]
    last = (await client.get("/v1/reports", params={"pageSize": 2, "page": 3}, headers=owner.headers)).json()
    assert [item["id"] for item in last["items"]] == [str(old.request_id)]

    pdfs = (await client.get("/v1/reports", params={"format": "pdf"}, headers=owner.headers)).json()
    assert {item["id"] for item in pdfs["items"]} == {created[0]["id"], created[3]["id"], str(old.request_id)}
    several = await client.get(
        "/v1/reports", params=[("status", "cancelled"), ("status", "PENDING")], headers=owner.headers
    )
    assert several.json()["totalItems"] == 5
    cancelled = (
        await client.get("/v1/reports", params={"status": "CANCELLED"}, headers=owner.headers)
    ).json()
    assert [item["id"] for item in cancelled["items"]] == [created[1]["id"]]
    recent = (
        await client.get(
            "/v1/reports",
            params={"createdFrom": (utc_now() - timedelta(days=1)).isoformat()},
            headers=owner.headers,
        )
    ).json()
    assert recent["totalItems"] == 4
    older = (
        await client.get(
            "/v1/reports",
            params={"createdTo": (utc_now() - timedelta(days=30)).isoformat()},
            headers=owner.headers,
        )
    ).json()
    assert [item["id"] for item in older["items"]] == [str(old.request_id)]

    bad_status = await client.get(
        "/v1/reports", params={"status": "DONE"}, headers=owner.with_headers(Accept_Language="en")
    )
    assert bad_status.status_code == 400
    assert bad_status.json()["errors"] == [
        {
            "field": "status",
            "message": 'Unknown value "DONE". Use one of: PENDING, PROCESSING, COMPLETED, FAILED, CANCELLED.',
        }
    ]
    reversed_range = await client.get(
        "/v1/reports",
        params={
            "createdFrom": utc_now().isoformat(),
            "createdTo": (utc_now() - timedelta(days=1)).isoformat(),
        },
        headers=owner.headers,
    )
    assert reversed_range.status_code == 400
    assert (
        await client.get("/v1/reports", params={"pageSize": 101}, headers=owner.headers)
    ).status_code == 400
