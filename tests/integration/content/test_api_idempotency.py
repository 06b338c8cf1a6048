"""Idempotency-Key: a retried POST returns the first request, whatever the timing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client

from tests.integration.content.support import ContentClient, TokenMint, report_body
from workflows.report_generation_types import report_workflow_id

pytestmark = pytest.mark.integration


async def test_a_retry_with_the_same_key_and_body_replays_the_first_request(
    client: ContentClient, mint: TokenMint, temporal: Client
) -> None:
    owner = mint.caller()
    key = str(uuid.uuid4())
    body = report_body(includeTags=["API", "Programação"])
    first = await client.post("/v1/reports", json=body, headers=owner.with_headers(Idempotency_Key=key))
    assert first.status_code == 202
    assert "idempotent-replayed" not in first.headers

    # The same request spelled differently: tags reordered, other case and accents, extra spaces.
    respelled = {**body, "includeTags": ["programacao", "api"], "title": f"  {body['title']} "}
    again = await client.post("/v1/reports", json=respelled, headers=owner.with_headers(Idempotency_Key=key))

    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert again.json()["id"] == first.json()["id"]
    listed = await client.get("/v1/reports", headers=owner.headers)
    assert listed.json()["totalItems"] == 1
    run = await temporal.get_workflow_handle(
        report_workflow_id(str(owner.tenant_id), first.json()["id"])
    ).describe()
    assert run.run_id, "one workflow, started once"

    without_key = await client.post("/v1/reports", json=body, headers=owner.headers)
    assert without_key.json()["id"] != first.json()["id"], "no key: every POST is a new request"


async def test_keys_belong_to_one_user(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    colleague = mint.caller(owner.tenant_id)
    stranger = mint.caller()
    key = "pedido-123"
    ids = set()
    for caller in (owner, colleague, stranger):
        response = await client.post(
            "/v1/reports", json=report_body(), headers=caller.with_headers(Idempotency_Key=key)
        )
        assert response.status_code == 202
        assert "idempotent-replayed" not in response.headers
        ids.add(response.json()["id"])
    assert len(ids) == 3


async def test_the_same_key_with_another_body_is_refused(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    headers = owner.with_headers(Idempotency_Key="chave-1", Accept_Language="en")
    assert (
        await client.post("/v1/reports", json=report_body(title="Primeiro"), headers=headers)
    ).status_code == 202

    other = await client.post("/v1/reports", json=report_body(title="Outro"), headers=headers)

    assert other.status_code == 422
    problem = other.json()
    assert problem["type"].endswith("/idempotency-key-reused")
    assert problem["code"] == "idempotency-key-reused"
    assert problem["detail"].startswith(
        "This Idempotency-Key was already used for a different report request"
    )
    assert problem["errors"] == [
        {"field": "Idempotency-Key", "message": "Already used with a different request body."}
    ]
    assert (await client.get("/v1/reports", headers=owner.headers)).json()["totalItems"] == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "com espaco", "acentuação"])
async def test_malformed_keys_are_refused(client: ContentClient, mint: TokenMint, key: str) -> None:
    response = await client.post(
        "/v1/reports",
        json=report_body(),
        headers=[
            (b"Authorization", f"Bearer {mint.caller().token}".encode()),
            (b"Idempotency-Key", key.encode()),
        ],
    )
    assert response.status_code == 400, response.text


async def test_the_longest_key_is_accepted(client: ContentClient, mint: TokenMint) -> None:
    response = await client.post(
        "/v1/reports", json=report_body(), headers=mint.caller().with_headers(Idempotency_Key="k" * 255)
    )
    assert response.status_code == 202


async def test_concurrent_duplicates_create_one_request(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    body = report_body()
    headers = owner.with_headers(Idempotency_Key=str(uuid.uuid4()))

    responses = await asyncio.gather(
        *(client.post("/v1/reports", json=body, headers=headers) for _ in range(8))
    )

    assert {response.status_code for response in responses} == {202}
    assert len({response.json()["id"] for response in responses}) == 1
    assert sum(response.headers.get("idempotent-replayed") == "true" for response in responses) == 7
    assert (await client.get("/v1/reports", headers=owner.headers)).json()["totalItems"] == 1
