"""The real TenantOnboarding worker against the session's Temporal dev server and PostgreSQL.

Each test gets its own task queues and workers built by `temporal.worker.build_worker`: the
identity queue's with the real `IdentityActivities` (application role, local storage, mailbox),
and the indexing queue's with the real `SearchActivities` (the embedded engine), which creates
the tenant's search index as production's indexing worker does. Where a test injects a
failure it wraps or subclasses one real client and says so by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle

from activities.identity import IdentityActivities, storage_prefix, welcome_email_key
from activities.mail import MailboxMailer, Mailer
from activities.search import SearchActivities
from api.common.settings import Settings
from api.common.storage import BlobStorage, LocalBlobStorage, local_blob_storage
from api.identity.piccolo_conf import configure
from temporal.client import connect_client
from temporal.search_attributes import ensure_search_attributes
from temporal.worker import build_worker
from workflows.search_index_types import TASK_QUEUE as INDEXING_QUEUE
from workflows.tenant_onboarding_types import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    OnboardingInput,
    OnboardingProgress,
    onboarding_workflow_id,
)

OnboardingHandle = WorkflowHandle[Any, OnboardingProgress]


@pytest.fixture(scope="session")
async def temporal_client(stack_settings: Settings) -> Client:
    client = await connect_client(Settings())
    await ensure_search_attributes(client, stack_settings.temporal_namespace)
    return client


@pytest.fixture
async def superuser(stack_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """Sees every row (RLS does not apply to it): the witness that nothing was left behind."""
    connection = await asyncpg.connect(stack_settings.superuser_dsn("identity"))
    try:
        yield connection
    finally:
        await connection.close()


def unique_slug(prefix: str = "onb") -> str:
    return f"{prefix}-{uuid4().hex[:10]}"


def real_activities(
    settings: Settings,
    *,
    storage: BlobStorage | None = None,
    mailer: Mailer | None = None,
    activities_class: type[IdentityActivities] = IdentityActivities,
) -> IdentityActivities:
    return activities_class(
        configure(settings, as_owner=False),
        storage or local_blob_storage(settings),
        mailer or MailboxMailer(settings.mailbox_dir),
        mail_from=settings.mail_from,
        login_url=f"http://{settings.edge_host}:{settings.edge_port}/",
        pool_min=1,
        pool_max=3,
    )


def signup(slug: str, *, locale: str = "pt-BR", full_name: str = "Ana Souza") -> OnboardingInput:
    return OnboardingInput(
        tenant_name=f"Empresa {slug}",
        slug=slug,
        admin_email=f"owner@{slug}.example",
        admin_password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$integrationhash",
        admin_full_name=full_name,
        locale=locale,
    )


@dataclass(frozen=True)
class OnboardingQueues:
    identity: str
    """Where the onboarding workflow and identity's steps run."""
    indexing: str
    """Where search's worker creates (or drops) the tenant's search index."""


@asynccontextmanager
async def onboarding_worker(
    client: Client,
    settings: Settings,
    activities: IdentityActivities,
    search_activities: SearchActivities | None = None,
) -> AsyncIterator[OnboardingQueues]:
    """Real identity and indexing workers on task queues of their own, while the block lasts."""
    queues = OnboardingQueues(identity=f"identity-test-{uuid4()}", indexing=f"indexing-test-{uuid4()}")
    search = search_activities or SearchActivities.from_settings(settings)
    async with activities, search:
        async with (
            build_worker(TASK_QUEUE, client, settings, task_queue=queues.identity, activities=activities),
            build_worker(INDEXING_QUEUE, client, settings, task_queue=queues.indexing, activities=search),
        ):
            yield queues


async def start_onboarding(
    client: Client, queues: OnboardingQueues, request: OnboardingInput
) -> OnboardingHandle:
    handle: OnboardingHandle = await client.start_workflow(
        WORKFLOW_NAME,
        replace(request, search_task_queue=queues.indexing),
        id=onboarding_workflow_id(request.slug),
        task_queue=queues.identity,
        result_type=OnboardingProgress,
    )
    return handle


async def query_progress(handle: OnboardingHandle) -> OnboardingProgress:
    progress: OnboardingProgress = await handle.query("progress", result_type=OnboardingProgress)
    return progress


async def leftovers(
    superuser: asyncpg.Connection, storage: LocalBlobStorage, settings: Settings, tenant_id: str, slug: str
) -> dict[str, object]:
    """Everything the onboarding of `slug` (tenant `tenant_id`) could have left behind."""
    tenants = await superuser.fetchval(
        "SELECT count(*) FROM tenants WHERE tenant_id = $1::uuid OR slug = $2", tenant_id, slug
    )
    users = await superuser.fetchval("SELECT count(*) FROM users WHERE tenant_id = $1::uuid", tenant_id)
    files = await storage.list(storage_prefix(tenant_id))
    folder_exists = (storage.root / storage_prefix(tenant_id)).exists()
    return {"tenants": tenants, "users": users, "files": files, "folder": folder_exists}


def welcome_path(settings: Settings, tenant_id: str, user_id: str) -> Path:
    return MailboxMailer(settings.mailbox_dir).path_for(welcome_email_key(tenant_id, user_id))
