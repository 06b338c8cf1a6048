"""Input, progress and result of the TenantOnboarding workflow, shared by its caller and worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.search_index_types import CREATE_TENANT_INDEX_ACTIVITY
from workflows.search_index_types import TASK_QUEUE as SEARCH_TASK_QUEUE

TASK_QUEUE = "identity"
WORKFLOW_NAME = "TenantOnboarding"


def onboarding_workflow_id(slug: str) -> str:
    """Deterministic: a retried sign-up for the same slug never starts a second onboarding."""
    return f"tenant-onboarding/{slug}"


@dataclass
class OnboardingInput:
    tenant_name: str
    slug: str
    admin_email: str
    admin_password_hash: str
    """Hashed by the API before the workflow starts: no password ever enters workflow history."""
    admin_full_name: str
    locale: str
    plan: str = "FREE"
    domain: str | None = None
    """Defaults to ``{slug}.mrbill.local``."""
    search_task_queue: str = SEARCH_TASK_QUEUE
    """Where search's worker creates the tenant's index; tests point it at a queue of their own."""


@dataclass
class OnboardingProgress:
    status: str = "RUNNING"
    """RUNNING, COMPLETED, FAILED or COMPENSATED."""
    percent: int = 0
    current_step: str | None = None
    completed_steps: list[str] = field(default_factory=list)
    compensated_steps: list[str] = field(default_factory=list)
    tenant_id: str | None = None
    owner_user_id: str | None = None
    error: str | None = None


# -- the saga's steps and the one-dataclass arguments of its activities -------------------

SEARCH_INDEX_STEP = CREATE_TENANT_INDEX_ACTIVITY
"""Runs on search's task queue (``indexing``), not identity's, with its own compensation."""
SEARCH_INDEX_PATCH = "create-tenant-search-index"
"""`workflow.patched` id of the search index step: onboardings started before it skip it."""

STEPS: tuple[str, ...] = (
    "create_tenant",
    "create_owner_user",
    "create_storage_prefix",
    SEARCH_INDEX_STEP,
    "send_welcome_email",
    "activate_tenant",
)
"""In order; each is also the name of the activity that performs it."""

STEPS_BEFORE_SEARCH_INDEX: tuple[str, ...] = tuple(step for step in STEPS if step != SEARCH_INDEX_STEP)
"""The steps of an onboarding started by a worker that did not have the search index step yet."""

REQUEST_TYPE = "TENANT_ONBOARDING"
"""Value of the RequestType search attribute on every onboarding workflow."""

NOTHING_DONE_ERROR_TYPES: tuple[str, ...] = ("SlugTaken", "DomainTaken", "EmailTaken", "InvalidInput")
"""Non-retryable activity errors raised before anything was written: nothing to undo."""


def default_domain(slug: str) -> str:
    return f"{slug}.mrbill.local"


@dataclass
class NewTenant:
    tenant_id: str
    """Chosen by the workflow, so a retried insert and its compensation name the same row."""
    name: str
    slug: str
    domain: str
    plan: str
    default_locale: str


@dataclass
class TenantRef:
    tenant_id: str


@dataclass
class NewOwner:
    tenant_id: str
    user_id: str
    email: str
    password_hash: str
    full_name: str
    locale: str


@dataclass
class UserRef:
    tenant_id: str
    user_id: str


@dataclass
class TenantStoragePrefix:
    tenant_id: str
    tenant_name: str = ""
    locale: str = "pt_BR"


@dataclass
class WelcomeEmail:
    tenant_id: str
    user_id: str
    tenant_name: str
    slug: str
    email: str
    full_name: str
    locale: str


@dataclass
class WelcomeEmailReceipt:
    message_id: str
