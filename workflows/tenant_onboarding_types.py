"""Input, progress and result of the TenantOnboarding workflow, shared by its caller and worker."""

from __future__ import annotations

from dataclasses import dataclass, field

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
