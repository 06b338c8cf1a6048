"""Request and response bodies of the identity API: camelCase on the wire, as the seed names them.

Request bodies refuse unknown fields, so a misspelt ``fullname`` is a clear 422 instead of a
change that silently never happens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from api.common.schemas import CamelStruct
from api.identity.audit import AuditEvent
from api.identity.repository import InvitationRecord, SessionRecord, TenantRecord, UserRecord
from workflows.tenant_onboarding_types import OnboardingProgress

Role = Literal["OWNER", "ADMIN", "MEMBER"]
AnyRole = Literal["OWNER", "ADMIN", "MEMBER", "SUPERADMIN"]
UserStatus = Literal["ACTIVE", "INVITED", "INACTIVE"]
TenantStatus = Literal["PENDING", "ACTIVE", "INACTIVE"]
Plan = Literal["FREE", "PRO"]
LocaleName = Literal["pt_BR", "en", "pt-BR"]

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
NewSecret = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
"""Long enough to reach the policy check, which explains the 128-character limit in words."""
OpaqueToken = Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
Domain = Annotated[str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9.-]+$")]


class InputStruct(CamelStruct, forbid_unknown_fields=True):
    pass


# -- auth --------------------------------------------------------------------------------------


class LoginRequest(InputStruct):
    tenant_slug: Slug
    email: Email
    password: Secret


class AuthTokens(CamelStruct):
    """The seed's AuthToken."""

    access_token: str
    refresh_token: str
    expires_in: int
    user_id: UUID
    tenant_id: UUID
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class RefreshRequest(InputStruct):
    refresh_token: OpaqueToken


class ValidateRequest(InputStruct):
    token: OpaqueToken


class TokenStatusOut(CamelStruct):
    """The seed's TokenStatus: ``valid`` is false for any token that would be refused."""

    valid: bool
    user_id: UUID | None = None
    tenant_id: UUID | None = None
    roles: list[str] = msgspec.field(default_factory=list)
    expiration_time: datetime | None = None


# -- users -------------------------------------------------------------------------------------


class UserOut(CamelStruct):
    user_id: UUID
    tenant_id: UUID
    email: str
    full_name: str
    role: str
    locale: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @classmethod
    def from_record(cls, user: UserRecord) -> UserOut:
        return cls(
            user_id=user.user_id,
            tenant_id=user.tenant_id,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            locale=user.locale,
            status=user.status,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
        )


class UserCreate(InputStruct):
    email: Email
    full_name: Name
    role: Role = "MEMBER"
    locale: LocaleName | None = None
    password: NewSecret | None = None
    """Without a password the user is INVITED."""


class UserUpdate(InputStruct):
    full_name: Name | None = None
    locale: LocaleName | None = None
    role: Role | None = None


class ProfileUpdate(InputStruct):
    full_name: Name | None = None
    locale: LocaleName | None = None


class PasswordChange(InputStruct):
    current_password: Secret
    new_password: NewSecret


class SessionOut(CamelStruct):
    session_id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    current: bool

    @classmethod
    def from_record(cls, session: SessionRecord, current_session_id: str | None) -> SessionOut:
        return cls(
            session_id=session.session_id,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            user_agent=session.user_agent,
            ip_address=session.ip_address,
            current=str(session.session_id) == current_session_id,
        )


# -- invitations -------------------------------------------------------------------------------


class InvitationAcceptance(InputStruct):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    """The code from the invitation e-mail (also the ``token`` of its link)."""
    password: NewSecret
    full_name: Name | None = None
    """The invited person may correct the name the administrator typed."""


class InvitationOut(CamelStruct):
    invitation_id: UUID
    tenant_id: UUID
    user_id: UUID
    created_at: datetime
    expires_at: datetime
    workflow_id: str
    """The UserInvitation workflow that e-mails it, as the Temporal UI shows it."""

    @classmethod
    def from_record(cls, invitation: InvitationRecord, workflow_id: str) -> InvitationOut:
        return cls(
            invitation_id=invitation.invitation_id,
            tenant_id=invitation.tenant_id,
            user_id=invitation.user_id,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            workflow_id=workflow_id,
        )


# -- tenants -----------------------------------------------------------------------------------


class TenantOut(CamelStruct):
    tenant_id: UUID
    name: str
    slug: str
    domain: str
    subscription_plan: str
    status: str
    default_locale: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, tenant: TenantRecord) -> TenantOut:
        return cls(
            tenant_id=tenant.tenant_id,
            name=tenant.name,
            slug=tenant.slug,
            domain=tenant.domain,
            subscription_plan=tenant.plan,
            status=tenant.status,
            default_locale=tenant.default_locale,
            settings=tenant.settings,
            created_at=tenant.created_at,
            updated_at=tenant.updated_at,
        )


TenantSettings = Annotated[dict[str, Any], msgspec.Meta(max_length=64)]


class TenantCreate(InputStruct):
    name: Name
    slug: Slug
    subscription_plan: Plan = "FREE"
    status: Literal["PENDING", "ACTIVE"] = "ACTIVE"
    domain: Domain | None = None
    default_locale: LocaleName = "pt_BR"
    settings: TenantSettings = msgspec.field(default_factory=dict)


class TenantUpdate(InputStruct):
    name: Name | None = None
    subscription_plan: Plan | None = None
    status: TenantStatus | None = None
    default_locale: LocaleName | None = None
    settings: TenantSettings | None = None


# -- audit -------------------------------------------------------------------------------------


class AuditEventOut(CamelStruct):
    audit_id: int
    tenant_id: UUID
    actor_user_id: UUID | None
    action: str
    target: str | None
    ip_address: str | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_event(cls, event: AuditEvent) -> AuditEventOut:
        return cls(
            audit_id=event.audit_id,
            tenant_id=event.tenant_id,
            actor_user_id=event.actor_user_id,
            action=event.action,
            target=event.target,
            ip_address=event.ip_address,
            details=event.details,
            created_at=event.created_at,
        )


# -- sign-up -----------------------------------------------------------------------------------


class SignupRequest(InputStruct):
    tenant_name: Name
    slug: Slug
    admin_email: Email
    password: NewSecret
    full_name: Name
    locale: LocaleName = "pt_BR"


class SignupAccepted(CamelStruct):
    signup_id: str
    """The slug: poll ``GET /v1/signup/{signupId}``."""
    workflow_id: str
    """The TenantOnboarding workflow, as the Temporal UI shows it."""
    status: str
    location: str


class SignupStatus(CamelStruct):
    signup_id: str
    workflow_id: str
    status: str
    """RUNNING, COMPLETED, FAILED or COMPENSATED."""
    percent: int
    current_step: str | None
    completed_steps: list[str]
    compensated_steps: list[str]
    tenant_id: str | None
    owner_user_id: str | None
    error: str | None

    @classmethod
    def from_progress(cls, slug: str, workflow_id: str, progress: OnboardingProgress) -> SignupStatus:
        return cls(
            signup_id=slug,
            workflow_id=workflow_id,
            status=progress.status,
            percent=progress.percent,
            current_step=progress.current_step,
            completed_steps=list(progress.completed_steps),
            compensated_steps=list(progress.compensated_steps),
            tenant_id=progress.tenant_id,
            owner_user_id=progress.owner_user_id,
            error=progress.error,
        )
