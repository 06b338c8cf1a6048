"""Sign-up starts the TenantOnboarding workflow on the real Temporal dev server.

No worker serves the ``identity`` queue here (the workflow has tests of its own): these tests
check that the API started the right workflow, with the right id, input and search attributes.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from passlib.hash import argon2
from temporalio.client import Client, WorkflowExecutionStatus

from api.common.settings import Settings
from temporal.client import connect_client
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID
from tests.integration.identity.support import IdentityClient, seed_tenant, unique_slug
from workflows.tenant_onboarding_types import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    OnboardingInput,
    onboarding_workflow_id,
)

pytestmark = pytest.mark.integration

PASSWORD = "signup passphrase 2026"


@pytest.fixture
async def temporal(settings: Settings) -> Client:
    return await connect_client(settings)


def _body(slug: str, **overrides: Any) -> dict[str, Any]:
    return {
        "tenantName": "Padaria do Zé",
        "slug": slug,
        "adminEmail": f"Ze@{slug}.example.com",
        "password": PASSWORD,
        "fullName": "José da Silva",
        "locale": "pt-BR",
    } | overrides


async def _terminate(temporal: Client, slug: str) -> None:
    await temporal.get_workflow_handle(onboarding_workflow_id(slug)).terminate(reason="test cleanup")


async def test_signup_starts_the_onboarding_workflow(client: IdentityClient, temporal: Client) -> None:
    slug = unique_slug("shop")
    try:
        response = await client.post("/v1/signup", json=_body(slug))

        assert response.status_code == 202, response.text
        assert response.headers["Location"] == f"/v1/signup/{slug}"
        assert response.json() == {
            "signupId": slug,
            "workflowId": onboarding_workflow_id(slug),
            "status": "RUNNING",
            "location": f"/v1/signup/{slug}",
        }
        handle = temporal.get_workflow_handle(onboarding_workflow_id(slug))
        description = await handle.describe()
        assert description.workflow_type == WORKFLOW_NAME
        assert description.task_queue == TASK_QUEUE
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert description.typed_search_attributes.get(TENANT_ID) == slug
        assert description.typed_search_attributes.get(REQUEST_TYPE) == "TENANT_ONBOARDING"
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [workflow_input] = await temporal.data_converter.decode(started.input.payloads, [OnboardingInput])
        assert isinstance(workflow_input, OnboardingInput)
        assert (workflow_input.slug, workflow_input.tenant_name, workflow_input.locale) == (
            slug,
            "Padaria do Zé",
            "pt_BR",
        )
        assert workflow_input.admin_email == f"ze@{slug}.example.com"
        assert workflow_input.admin_full_name == "José da Silva"
        assert workflow_input.admin_password_hash.startswith("$argon2id$")
        assert argon2.verify(PASSWORD, workflow_input.admin_password_hash)
        assert PASSWORD.encode() not in history.to_json().encode()

        progress = await client.get(f"/v1/signup/{slug}")
        assert progress.status_code == 200
        assert progress.json()["status"] == "RUNNING"
        assert progress.json()["workflowId"] == onboarding_workflow_id(slug)
    finally:
        await _terminate(temporal, slug)


async def test_a_second_signup_for_the_same_slug_conflicts(client: IdentityClient, temporal: Client) -> None:
    slug = unique_slug("twice")
    try:
        assert (await client.post("/v1/signup", json=_body(slug))).status_code == 202
        again = await client.post("/v1/signup", json=_body(slug), headers={"Accept-Language": "en"})
        assert again.status_code == 409
        assert again.json()["code"] == "signup-in-progress"
        assert again.json()["detail"] == f"A sign-up for {slug} is already in progress or done."
    finally:
        await _terminate(temporal, slug)


async def test_signup_for_a_slug_already_in_use_conflicts(client: IdentityClient) -> None:
    seeded = await seed_tenant(client)
    response = await client.post("/v1/signup", json=_body(seeded.slug), headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 409
    assert response.json()["code"] == "slug-taken"
    assert response.json()["detail"] == f"O endereço {seeded.slug} já está em uso."


async def test_invalid_signups_list_every_problem(client: IdentityClient) -> None:
    response = await client.post(
        "/v1/signup",
        json=_body("Www", adminEmail="nobody", password="nobody-password", locale="en"),
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert set(errors) == {"slug", "adminEmail", "password"}
    assert errors["password"] == "Must not contain your e-mail address."
    reserved = await client.post("/v1/signup", json=_body("www"))
    assert reserved.status_code == 422
    assert reserved.json()["errors"] == [{"field": "slug", "message": "Este endereço é reservado."}]
    for broken in (_body(unique_slug(), locale="fr"), {"slug": "abc"}, _body(unique_slug(), extra=1)):
        assert (await client.post("/v1/signup", json=broken)).status_code == 422


async def test_progress_of_an_unknown_signup_is_404(client: IdentityClient) -> None:
    for signup_id in (unique_slug("never"), "NOT a slug", str(uuid.uuid4())):
        response = await client.get(f"/v1/signup/{signup_id}")
        assert response.status_code == 404, signup_id
        assert response.json()["code"] == "signup-not-found"
