"""TenantOnboarding end to end on the real stack: what a sign-up creates, and what a failure undoes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.identity import IdentityActivities, branding_key
from activities.mail import MailboxMailer, MailRejectedError, read_message
from activities.search import SearchActivities
from api.common.settings import Settings
from api.common.storage import (
    SIGNING_KEY_FILE,
    LocalBlobStorage,
    load_or_create_signing_key,
    local_blob_storage,
)
from api.identity import onboarding
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from tests.integration.onboarding.conftest import (
    leftovers,
    onboarding_worker,
    query_progress,
    real_activities,
    signup,
    start_onboarding,
    unique_slug,
    welcome_path,
)
from workflows.search_index_types import CREATE_TENANT_INDEX_ACTIVITY, TenantIndexRequest
from workflows.tenant_onboarding_types import SEARCH_INDEX_STEP, STEPS, NewOwner, TenantRef

pytestmark = pytest.mark.integration


# -- failure injectors: real clients, wrapped or subclassed, each saying what it breaks -----------


class StorageFailingAfterWrite(LocalBlobStorage):
    """The real local store, except that `put` raises after writing (a lost acknowledgement)."""

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await super().put(key, data, content_type)
        raise PermissionError(f"injected: storage refused {key}")


class RejectingMailer(MailboxMailer):
    """The real mailbox, except that it rejects every message (as SES does a bad address)."""

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        raise MailRejectedError("injected: the mail provider rejected the message")


class FlakyMailer(MailboxMailer):
    """The real mailbox, failing the first `failures` sends with a transient error."""

    def __init__(self, directory: Path, *, failures: int) -> None:
        super().__init__(directory)
        self.failures = failures
        self.attempts = 0

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("injected: mail relay unreachable")
        return await super().send(message, idempotency_key=idempotency_key)


class OwnerEmailTakenMeanwhile(IdentityActivities):
    """The real activities, except that a user with the owner's email appears just before step 2."""

    @activity.defn(name="create_owner_user")
    async def create_owner_user(self, request: NewOwner) -> None:
        await onboarding.create_owner(
            self.engine,
            tenant_id=request.tenant_id,
            user_id=str(uuid4()),
            email=request.email.upper(),
            password_hash="$argon2id$someone-else",
            full_name="Someone Else",
            locale="en",
        )
        await super().create_owner_user(request)


class ActivationLostAfterCommit(IdentityActivities):
    """The real activities, except that activation reports failure after it committed."""

    @activity.defn(name="activate_tenant")
    async def activate_tenant(self, request: TenantRef) -> None:
        await super().activate_tenant(request)
        raise ApplicationError("injected: activation could not be confirmed", non_retryable=True)


class SearchIndexRefused(SearchActivities):
    """The real search activities, except that the tenant's index is refused after it was created."""

    @activity.defn(name=CREATE_TENANT_INDEX_ACTIVITY)
    async def create_tenant_index(self, request: TenantIndexRequest) -> None:
        await super().create_tenant_index(request)
        raise ApplicationError("injected: the search engine refused the index", non_retryable=True)


@dataclass
class FailureCase:
    failing_step: str
    build: Callable[[Settings], IdentityActivities]
    error_fragment: str
    welcome_email_sent: bool = False
    build_search: Callable[[Settings], SearchActivities] | None = None


FAILURES: dict[str, FailureCase] = {
    "owner_email_taken": FailureCase(
        "create_owner_user",
        lambda settings: real_activities(settings, activities_class=OwnerEmailTakenMeanwhile),
        "already belongs to a user of this tenant",
    ),
    "storage_fails_after_write": FailureCase(
        "create_storage_prefix",
        lambda settings: real_activities(
            settings,
            storage=StorageFailingAfterWrite(
                settings.storage_dir, load_or_create_signing_key(settings.keys_dir / SIGNING_KEY_FILE)
            ),
        ),
        "injected: storage refused",
    ),
    "search_index_refused": FailureCase(
        SEARCH_INDEX_STEP,
        real_activities,
        "injected: the search engine refused the index",
        build_search=SearchIndexRefused.from_settings,
    ),
    "mailer_rejects": FailureCase(
        "send_welcome_email",
        lambda settings: real_activities(settings, mailer=RejectingMailer(settings.mailbox_dir)),
        "injected: the mail provider rejected the message",
    ),
    "activation_lost_after_commit": FailureCase(
        "activate_tenant",
        lambda settings: real_activities(settings, activities_class=ActivationLostAfterCommit),
        "injected: activation could not be confirmed",
        welcome_email_sent=True,
    ),
}


# -- the happy path --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "stored_locale", "subject"),
    [
        ("pt-BR", "pt_BR", "Boas-vindas ao Mr Bill"),
        ("en", "en", "Welcome to Mr Bill"),
    ],
)
async def test_onboarding_creates_an_active_tenant_its_owner_storage_and_welcome_email(
    temporal_client: Client,
    stack_settings: Settings,
    superuser: asyncpg.Connection,
    locale: str,
    stored_locale: str,
    subject: str,
) -> None:
    slug = unique_slug()
    request = signup(slug, locale=locale)
    async with onboarding_worker(temporal_client, stack_settings, real_activities(stack_settings)) as queue:
        handle = await start_onboarding(temporal_client, queue, request)
        result = await handle.result()
        description = await handle.describe()

    assert result.status == "COMPLETED"
    assert result.completed_steps == list(STEPS)
    assert result.tenant_id is not None
    assert result.owner_user_id is not None

    tenant = await superuser.fetchrow("SELECT * FROM tenants WHERE slug = $1", slug)
    assert tenant is not None
    assert str(tenant["tenant_id"]) == result.tenant_id
    assert (tenant["status"], tenant["domain"], tenant["subscription_plan"], tenant["default_locale"]) == (
        "ACTIVE",
        f"{slug}.mrbill.local",
        "FREE",
        stored_locale,
    )
    owner = await superuser.fetchrow("SELECT * FROM users WHERE tenant_id = $1", tenant["tenant_id"])
    assert owner is not None
    assert str(owner["user_id"]) == result.owner_user_id
    assert (owner["role"], owner["status"], owner["email"], owner["locale"]) == (
        "OWNER",
        "ACTIVE",
        request.admin_email,
        stored_locale,
    )
    assert owner["password_hash"] == request.admin_password_hash

    storage = local_blob_storage(stack_settings)
    branding = json.loads(await storage.get(branding_key(result.tenant_id)))
    assert branding == {
        "name": request.tenant_name,
        "colors": branding["colors"],
        "logo": None,
        "locale": stored_locale,
    }
    assert set(branding["colors"]) >= {"primary", "secondary"}

    message = read_message(welcome_path(stack_settings, result.tenant_id, result.owner_user_id))
    assert message["To"] == request.admin_email
    assert str(message["Subject"]).startswith(subject)
    assert message["Content-Language"] == stored_locale.replace("_", "-")

    attributes = description.typed_search_attributes
    assert attributes.get(TENANT_ID) == result.tenant_id
    assert attributes.get(USER_ID) == result.owner_user_id
    assert attributes.get(REQUEST_TYPE) == "TENANT_ONBOARDING"


async def test_a_transient_mail_failure_is_retried_and_the_email_is_sent_once(
    temporal_client: Client, stack_settings: Settings
) -> None:
    mailer = FlakyMailer(stack_settings.mailbox_dir, failures=2)
    activities = real_activities(stack_settings, mailer=mailer)
    async with onboarding_worker(temporal_client, stack_settings, activities) as queue:
        handle = await start_onboarding(temporal_client, queue, signup(unique_slug()))
        result = await handle.result()

    assert result.status == "COMPLETED"
    assert mailer.attempts == 3
    assert result.tenant_id is not None
    assert result.owner_user_id is not None
    assert welcome_path(stack_settings, result.tenant_id, result.owner_user_id).exists()


# -- failures: nothing is left behind, and the slug can be used again --------------------------------


@pytest.mark.parametrize("case", FAILURES.values(), ids=FAILURES.keys())
async def test_a_failure_at_a_real_step_leaves_nothing_behind_and_frees_the_slug(
    temporal_client: Client, stack_settings: Settings, superuser: asyncpg.Connection, case: FailureCase
) -> None:
    slug = unique_slug()
    storage = local_blob_storage(stack_settings)
    search = case.build_search(stack_settings) if case.build_search else None
    async with onboarding_worker(
        temporal_client, stack_settings, case.build(stack_settings), search_activities=search
    ) as queue:
        handle = await start_onboarding(temporal_client, queue, signup(slug))
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        progress = await query_progress(handle)

    assert progress.status == "COMPENSATED"
    assert progress.error is not None
    assert progress.error.startswith(f"{case.failing_step} failed:")
    assert case.error_fragment in progress.error
    assert progress.completed_steps == list(STEPS[: STEPS.index(case.failing_step)])
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == "OnboardingFailed"
    assert progress.tenant_id is not None
    assert await leftovers(superuser, storage, stack_settings, progress.tenant_id, slug) == {
        "tenants": 0,
        "users": 0,
        "files": [],
        "folder": False,
    }
    if progress.owner_user_id is not None:
        sent = welcome_path(stack_settings, progress.tenant_id, progress.owner_user_id).exists()
        assert sent == case.welcome_email_sent, "a sent email cannot be recalled; no other is sent"

    async with onboarding_worker(temporal_client, stack_settings, real_activities(stack_settings)) as queue:
        retry = await start_onboarding(temporal_client, queue, signup(slug))
        again = await retry.result()
    assert again.status == "COMPLETED"
    assert await superuser.fetchval("SELECT status FROM tenants WHERE slug = $1", slug) == "ACTIVE"


async def test_a_taken_slug_fails_at_once_and_leaves_the_existing_tenant_alone(
    temporal_client: Client, stack_settings: Settings, superuser: asyncpg.Connection
) -> None:
    slug = unique_slug()
    existing = await superuser.fetchval(
        "INSERT INTO tenants (name, slug, domain, status) VALUES ('Existing', $1, $2, 'ACTIVE')"
        " RETURNING tenant_id",
        slug,
        f"{slug}.existing.example",
    )
    await superuser.execute(
        "INSERT INTO users (tenant_id, email, password_hash, full_name, role)"
        " VALUES ($1, 'boss@existing.example', 'hash', 'Boss', 'OWNER')",
        existing,
    )
    async with onboarding_worker(temporal_client, stack_settings, real_activities(stack_settings)) as queue:
        handle = await start_onboarding(temporal_client, queue, signup(slug))
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        progress = await query_progress(handle)
        history = await handle.fetch_history()

    assert progress.error == f"create_tenant failed: the slug {slug!r} is already taken"
    assert progress.tenant_id is None
    assert progress.compensated_steps == []
    attempts = [event for event in history.events if event.HasField("activity_task_started_event_attributes")]
    assert [event.activity_task_started_event_attributes.attempt for event in attempts] == [1]
    rows = await superuser.fetch("SELECT tenant_id, name, status FROM tenants WHERE slug = $1", slug)
    assert [(row["tenant_id"], row["name"], row["status"]) for row in rows] == [
        (existing, "Existing", "ACTIVE")
    ]
    assert await superuser.fetchval("SELECT count(*) FROM users WHERE tenant_id = $1", existing) == 1
