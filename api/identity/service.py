"""Identity's business rules: tenants, users, login, sessions and sign-up. No HTTP here.

Most methods run inside a transaction the request opened (`tenant_transaction` for a tenant's
own data, `platform_transaction` for SUPERADMIN work) and never commit on their own. Login and
refresh are the exception, on purpose: they must look a tenant up across tenants before they
know which tenant to work in, and a refused attempt must still leave its audit row, its
failure count and, for a reused refresh token, the revoked session behind. So they run their
own short transactions, and never hold one while a password is being hashed.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import asyncpg
import structlog
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.common.auth import AccessDenylist, KeySetProvider, verify_access_token
from api.common.errors import (
    AuthenticationError,
    FieldError,
    ProblemError,
    ServiceUnavailableError,
    ValidationProblem,
)
from api.common.i18n import N_, normalize_locale
from api.common.settings import Settings
from api.common.tenancy import platform_transaction, tenant_transaction
from api.identity import audit, invitations, repository
from api.identity.audit import AuditAction
from api.identity.database import identity_database
from api.identity.errors import (
    AccountLockedError,
    EmailTakenError,
    InvalidCredentialsError,
    InvalidInvitationError,
    InvalidRefreshTokenError,
    InvitationExpiredError,
    InvitationRevokedError,
    InvitationUsedError,
    LastOwnerError,
    LoginDelayedError,
    RefreshTokenReusedError,
    RoleNotAllowedError,
    SelfDeactivationError,
    SessionNotFoundError,
    SignupInProgressError,
    SignupNotFoundError,
    SlugTakenError,
    TenantNotFoundError,
    TooManyRequestsError,
    UserInactiveError,
    UserNotFoundError,
    UserNotInvitedError,
    UserQuotaExceededError,
)
from api.identity.passwords import PasswordHasher, PasswordPolicyViolation, check_password_policy
from api.identity.repository import InvitationRecord, SessionRecord, TenantRecord, UserRecord
from api.identity.throttle import LoginThrottle, Refusal, account_key
from api.identity.tokens import (
    AccessTokenIssuer,
    AccessTokenSubject,
    IssuedAccessToken,
    SessionAccessTokens,
    hash_refresh_token,
    new_refresh_token,
)
from temporal.client import connect_client
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from workflows.tenant_onboarding_types import (
    REQUEST_TYPE as ONBOARDING_REQUEST_TYPE,
)
from workflows.tenant_onboarding_types import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    OnboardingInput,
    OnboardingProgress,
    default_domain,
    onboarding_workflow_id,
)
from workflows.user_invitation_types import REQUEST_TYPE as INVITATION_REQUEST_TYPE
from workflows.user_invitation_types import TASK_QUEUE as INVITATION_TASK_QUEUE
from workflows.user_invitation_types import WORKFLOW_NAME as INVITATION_WORKFLOW_NAME
from workflows.user_invitation_types import InvitationRequest, invitation_workflow_id

# -- vocabulary --------------------------------------------------------------------------------

OWNER: Final = "OWNER"
ADMIN: Final = "ADMIN"
MEMBER: Final = "MEMBER"
SUPERADMIN: Final = "SUPERADMIN"
TENANT_ROLES: tuple[str, ...] = (OWNER, ADMIN, MEMBER)

ACTIVE: Final = "ACTIVE"
INVITED: Final = "INVITED"
INACTIVE: Final = "INACTIVE"
PENDING: Final = "PENDING"

PLATFORM_TENANT_SLUG: Final = "platform"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
RESERVED_SLUGS: frozenset[str] = frozenset(
    {
        "platform", "admin", "api", "www", "app", "auth", "login", "logout", "signup", "static",
        "assets", "mail", "smtp", "status", "health", "metrics", "help", "support", "docs",
        "mrbill", "root", "system", "superadmin", "identity", "temporal", "edge",
    }
)  # fmt: skip
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"^[^@\s\x00-\x1f]{{1,64}}@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+$")
MAX_REFRESH_TOKEN_LENGTH = 128
SIGNUP_QUERY_TIMEOUT = timedelta(seconds=2)
INVITATION_TTL = timedelta(days=7)
INVITATION_WORKFLOW_TIMEOUT = timedelta(days=2)
"""The workflow's whole life: a day of retried sends at most, and then some for a worker backlog."""
TEMPORAL_CONNECT_TIMEOUT_SECONDS = 3.0
TEMPORAL_START_TIMEOUT = timedelta(seconds=5)

logger = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """Who asks: the authenticated user, from the access token's claims."""

    user_id: UUID
    tenant_id: UUID
    roles: tuple[str, ...]
    session_id: UUID | None = None

    @property
    def is_manager(self) -> bool:
        return self.is_owner or ADMIN in self.roles

    @property
    def is_owner(self) -> bool:
        """A SUPERADMIN owns the platform tenant, the only tenant its tokens reach."""
        return OWNER in self.roles or SUPERADMIN in self.roles

    @property
    def is_superadmin(self) -> bool:
        return SUPERADMIN in self.roles


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for throttling and the audit log."""

    ip: str | None = None
    user_agent: str | None = None


# -- input checks shared by several operations -------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_error(email: str, field_name: str = "email") -> FieldError | None:
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        return {"field": field_name, "message": N_("Must be a valid e-mail address.")}
    return None


_PASSWORD_MESSAGES: Mapping[str, str] = {
    "too_short": N_("Must have at least 12 characters."),
    "too_long": N_("Must have at most 128 characters."),
    "contains_email": N_("Must not contain your e-mail address."),
}


def password_error(password: str, email: str, field_name: str = "password") -> FieldError | None:
    try:
        check_password_policy(password, email)
    except PasswordPolicyViolation as violation:
        return {"field": field_name, "message": _PASSWORD_MESSAGES[violation.reason]}
    return None


def locale_error(locale: str | None, field_name: str = "locale") -> FieldError | None:
    if locale is not None and normalize_locale(locale) != locale.replace("-", "_"):
        return {
            "field": field_name,
            "message": N_("Must be one of: {choices}."),
            "params": {"choices": "pt_BR, en"},
        }
    return None


def slug_error(slug: str, field_name: str = "slug") -> FieldError | None:
    if not SLUG_PATTERN.match(slug):
        return {
            "field": field_name,
            "message": N_(
                "Use 3 to 63 lowercase letters, digits or hyphens; start and end with a letter or digit."
            ),
        }
    if slug in RESERVED_SLUGS:
        return {"field": field_name, "message": N_("This address is reserved.")}
    return None


def canonical_locale(locale: str | None) -> str | None:
    return None if locale is None else normalize_locale(locale)


def raise_if_invalid(errors: Sequence[FieldError | None]) -> None:
    found = [error for error in errors if error is not None]
    if found:
        raise ValidationProblem(errors=found)


def _refusal_error(refusal: Refusal) -> ProblemError:
    if refusal.reason == "locked":
        return AccountLockedError(refusal.retry_after)
    if refusal.reason == "delayed":
        return LoginDelayedError(refusal.retry_after)
    return TooManyRequestsError(refusal.retry_after)


# -- tenants -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantDraft:
    name: str
    slug: str
    plan: str = "FREE"
    status: str = ACTIVE
    domain: str | None = None
    default_locale: str = "pt_BR"
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantChanges:
    name: str | None = None
    plan: str | None = None
    status: str | None = None
    default_locale: str | None = None
    settings: Mapping[str, Any] | None = None


class TenantService:
    """Platform work (SUPERADMIN): run inside `platform_transaction`."""

    def __init__(self, settings: Settings, session_tokens: SessionAccessTokens) -> None:
        self._settings = settings
        self._session_tokens = session_tokens

    def _validate_plan(self, plan: str | None, errors: list[FieldError | None]) -> None:
        if plan is not None and plan not in self._settings.plans:
            errors.append(
                {
                    "field": "subscriptionPlan",
                    "message": N_("Must be one of: {choices}."),
                    "params": {"choices": ", ".join(sorted(self._settings.plans))},
                }
            )

    async def create_tenant(self, actor: Actor | None, draft: TenantDraft, origin: Origin) -> TenantRecord:
        errors: list[FieldError | None] = [slug_error(draft.slug), locale_error(draft.default_locale)]
        self._validate_plan(draft.plan, errors)
        raise_if_invalid(errors)
        domain = (draft.domain or default_domain(draft.slug)).lower()
        if await repository.tenant_slug_or_domain_taken(draft.slug, domain):
            raise SlugTakenError(draft.slug)
        try:
            tenant = await repository.insert_tenant(
                tenant_id=uuid.uuid4(),
                name=draft.name,
                slug=draft.slug,
                domain=domain,
                plan=draft.plan,
                status=draft.status,
                default_locale=canonical_locale(draft.default_locale) or self._settings.default_locale,
                settings=draft.settings,
            )
        except asyncpg.UniqueViolationError as exc:  # a sign-up or another operator got there first
            raise SlugTakenError(draft.slug) from exc
        await audit.record(
            AuditAction.TENANT_CREATED,
            tenant.tenant_id,
            actor=None if actor is None else actor.user_id,
            target=tenant.tenant_id,
            ip=origin.ip,
            details={"slug": tenant.slug, "plan": tenant.plan},
        )
        return tenant

    async def get_tenant(self, tenant_id: UUID) -> TenantRecord:
        tenant = await repository.get_tenant(tenant_id)
        if tenant is None:
            raise TenantNotFoundError()
        return tenant

    async def update_tenant(
        self, actor: Actor, tenant_id: UUID, changes: TenantChanges, origin: Origin
    ) -> TenantRecord:
        errors: list[FieldError | None] = [locale_error(changes.default_locale, "defaultLocale")]
        self._validate_plan(changes.plan, errors)
        raise_if_invalid(errors)
        before = await self.get_tenant(tenant_id)
        if before.slug == PLATFORM_TENANT_SLUG and changes.status not in (None, ACTIVE):
            raise RoleNotAllowedError()  # the SUPERADMINs would lock themselves out
        values: dict[str, Any] = {
            name: value
            for name, value in (
                ("name", changes.name),
                ("plan", changes.plan),
                ("status", changes.status),
                ("default_locale", canonical_locale(changes.default_locale)),
                ("settings", changes.settings),
            )
            if value is not None
        }
        if not values:
            return before
        updated = await repository.update_tenant(tenant_id, values, _now())
        if updated is None:
            raise TenantNotFoundError()
        changed = {
            name: {"from": getattr(before, name), "to": getattr(updated, name)}
            for name in values
            if name != "settings" and getattr(before, name) != getattr(updated, name)
        }
        await audit.record(
            AuditAction.TENANT_UPDATED,
            tenant_id,
            actor=actor.user_id,
            target=tenant_id,
            ip=origin.ip,
            details={"changes": changed, "settingsChanged": "settings" in values},
        )
        if before.status != INACTIVE and updated.status == INACTIVE:
            await self._close_all_sessions(tenant_id)
        return updated

    async def deactivate_tenant(self, actor: Actor, tenant_id: UUID, origin: Origin) -> TenantRecord:
        """Nobody of the tenant can log in or refresh any more; live tokens are denylisted."""
        tenant = await self.get_tenant(tenant_id)
        if tenant.slug == PLATFORM_TENANT_SLUG:
            raise RoleNotAllowedError()
        if tenant.status != INACTIVE:
            updated = await repository.update_tenant(tenant_id, {"status": INACTIVE}, _now())
            if updated is None:
                raise TenantNotFoundError()
            tenant = updated
            await audit.record(
                AuditAction.TENANT_DEACTIVATED, tenant_id, actor=actor.user_id, target=tenant_id, ip=origin.ip
            )
        await self._close_all_sessions(tenant_id)
        return tenant

    async def _close_all_sessions(self, tenant_id: UUID) -> None:
        revoked = await repository.revoke_tenant_sessions(tenant_id, reason="tenant_deactivated", now=_now())
        await self._session_tokens.revoke(revoked)

    async def list_tenants(
        self, *, status: str | None, plan: str | None, query: str | None, offset: int, limit: int
    ) -> tuple[list[TenantRecord], int]:
        return await repository.list_tenants(
            status=status, plan=plan, query=query, offset=offset, limit=limit
        )


# -- users -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserDraft:
    email: str
    full_name: str
    role: str = MEMBER
    locale: str | None = None
    password: str | None = None
    """Without one, the user is INVITED and cannot log in until an invitation is accepted."""


@dataclass(frozen=True)
class UserChanges:
    full_name: str | None = None
    locale: str | None = None
    role: str | None = None


class UserService:
    """A tenant's users: run inside `tenant_transaction` of the actor's tenant."""

    def __init__(
        self, settings: Settings, hasher: PasswordHasher, session_tokens: SessionAccessTokens
    ) -> None:
        self._settings = settings
        self._hasher = hasher
        self._session_tokens = session_tokens

    @staticmethod
    def _require_manager(actor: Actor) -> None:
        if not actor.is_manager:
            raise RoleNotAllowedError()

    async def create_user(self, actor: Actor, draft: UserDraft, origin: Origin) -> UserRecord:
        """OWNER or ADMIN; an ADMIN cannot create OWNERs and nobody creates a SUPERADMIN here."""
        self._require_manager(actor)
        email = normalize_email(draft.email)
        errors: list[FieldError | None] = [email_error(email), locale_error(draft.locale)]
        if draft.password is not None:
            errors.append(password_error(draft.password, email))
        if draft.role not in TENANT_ROLES:
            errors.append(
                {
                    "field": "role",
                    "message": N_("Must be one of: {choices}."),
                    "params": {"choices": "OWNER, ADMIN, MEMBER"},
                }
            )
        raise_if_invalid(errors)
        if draft.role == OWNER and not actor.is_owner:
            raise RoleNotAllowedError()
        # The tenant row lock serialises user creation, so two at once cannot both pass the quota.
        tenant = await repository.get_tenant(actor.tenant_id, for_update=True)
        if tenant is None:
            raise TenantNotFoundError()
        quota = self._settings.plans.get(tenant.plan)
        if quota is not None:
            in_use = await repository.count_users(actor.tenant_id, statuses=(ACTIVE, INVITED))
            if in_use >= quota.max_users:
                raise UserQuotaExceededError(tenant.plan, quota.max_users)
        if await repository.email_taken(actor.tenant_id, email):
            raise EmailTakenError()
        if draft.password is not None:
            password_hash, status = await self._hasher.hash(draft.password), ACTIVE
        else:
            # Unusable until an invitation sets a real password: no password verifies against it.
            password_hash, status = "!invited:" + secrets.token_urlsafe(24), INVITED
        user = await repository.insert_user(
            user_id=uuid.uuid4(),
            tenant_id=actor.tenant_id,
            email=email,
            password_hash=password_hash,
            full_name=draft.full_name,
            role=draft.role,
            locale=canonical_locale(draft.locale),
            status=status,
        )
        await audit.record(
            AuditAction.USER_CREATED,
            actor.tenant_id,
            actor=actor.user_id,
            target=user.user_id,
            ip=origin.ip,
            details={"email": user.email, "role": user.role, "status": user.status},
        )
        return user

    async def get_user(self, actor: Actor, user_id: UUID) -> UserRecord:
        user = await repository.get_user(actor.tenant_id, user_id)
        if user is None:
            raise UserNotFoundError()
        return user

    async def get_own_profile(self, tenant_id: UUID, user_id: UUID) -> UserRecord:
        """The caller's own record, by the ids of their verified token.

        It reads in a statement of its own (tenant scope included): call it outside any
        transaction, where `get_user` runs inside one.
        """
        user = await repository.read_user_in_tenant(tenant_id, user_id)
        if user is None:
            raise UserNotFoundError()
        return user

    async def list_users(
        self,
        actor: Actor,
        *,
        role: str | None,
        status: str | None,
        query: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[UserRecord], int]:
        return await repository.list_users(
            actor.tenant_id, role=role, status=status, query=query, offset=offset, limit=limit
        )

    async def _ensure_owner_remains(self, tenant_id: UUID, leaving: UserRecord) -> None:
        if leaving.role == OWNER and leaving.status == ACTIVE:
            # Two owners demoting each other at once take turns on the tenant row.
            await repository.get_tenant(tenant_id, for_update=True)
            owners = await repository.count_users(tenant_id, statuses=(ACTIVE,), role=OWNER)
            if owners <= 1:
                raise LastOwnerError()

    def _may_manage(self, actor: Actor, target: UserRecord) -> bool:
        """An ADMIN manages ADMINs and MEMBERs; only an OWNER touches an OWNER."""
        return actor.is_owner or (actor.is_manager and target.role != OWNER)

    async def update_user(
        self, actor: Actor, user_id: UUID, changes: UserChanges, origin: Origin
    ) -> UserRecord:
        self._require_manager(actor)
        errors: list[FieldError | None] = [locale_error(changes.locale)]
        if changes.role is not None and changes.role not in TENANT_ROLES:
            errors.append(
                {
                    "field": "role",
                    "message": N_("Must be one of: {choices}."),
                    "params": {"choices": "OWNER, ADMIN, MEMBER"},
                }
            )
        raise_if_invalid(errors)
        target = await repository.get_user(actor.tenant_id, user_id, for_update=True)
        if target is None:
            raise UserNotFoundError()
        if not self._may_manage(actor, target) or (changes.role == OWNER and not actor.is_owner):
            raise RoleNotAllowedError()
        values: dict[str, Any] = {}
        if changes.full_name is not None:
            values["full_name"] = changes.full_name
        if changes.locale is not None:
            values["locale"] = canonical_locale(changes.locale)
        role_changed = changes.role is not None and changes.role != target.role
        if role_changed:
            if target.status == INACTIVE:
                raise UserInactiveError()
            await self._ensure_owner_remains(actor.tenant_id, target)
            values["role"] = changes.role
        if not values:
            return target
        updated = await repository.update_user(actor.tenant_id, user_id, values, _now())
        if updated is None:
            raise UserNotFoundError()
        if role_changed:
            await audit.record(
                AuditAction.ROLE_CHANGED,
                actor.tenant_id,
                actor=actor.user_id,
                target=user_id,
                ip=origin.ip,
                details={"from": target.role, "to": updated.role},
            )
            # Tokens carry roles: the old ones stop now, the sessions refresh into the new role.
            sessions = await repository.list_active_sessions(actor.tenant_id, user_id, _now())
            await self._session_tokens.revoke(session.session_id for session in sessions)
        if set(values) - {"role"}:
            await audit.record(
                AuditAction.USER_UPDATED,
                actor.tenant_id,
                actor=actor.user_id,
                target=user_id,
                ip=origin.ip,
                details={"fields": sorted(set(values) - {"role"})},
            )
        return updated

    async def update_profile(
        self, actor: Actor, *, full_name: str | None, locale: str | None, origin: Origin
    ) -> UserRecord:
        """Anyone may change their own name and language, never their own role."""
        raise_if_invalid([locale_error(locale)])
        values: dict[str, Any] = {}
        if full_name is not None:
            values["full_name"] = full_name
        if locale is not None:
            values["locale"] = canonical_locale(locale)
        if not values:
            return await self.get_user(actor, actor.user_id)
        updated = await repository.update_user(actor.tenant_id, actor.user_id, values, _now())
        if updated is None:
            raise UserNotFoundError()
        await audit.record(
            AuditAction.USER_UPDATED,
            actor.tenant_id,
            actor=actor.user_id,
            target=actor.user_id,
            ip=origin.ip,
            details={"fields": sorted(values)},
        )
        return updated

    async def deactivate_user(self, actor: Actor, user_id: UUID, origin: Origin) -> UserRecord:
        """The user can no longer log in; every session and live access token ends now."""
        self._require_manager(actor)
        target = await repository.get_user(actor.tenant_id, user_id, for_update=True)
        if target is None:
            raise UserNotFoundError()
        if target.user_id == actor.user_id:
            raise SelfDeactivationError()
        if not self._may_manage(actor, target):
            raise RoleNotAllowedError()
        if target.status == INACTIVE:
            return target
        await self._ensure_owner_remains(actor.tenant_id, target)
        now = _now()
        updated = await repository.update_user(actor.tenant_id, user_id, {"status": INACTIVE}, now)
        if updated is None:
            raise UserNotFoundError()
        revoked = await repository.revoke_sessions(
            actor.tenant_id, user_id=user_id, reason="user_deactivated", now=now
        )
        await audit.record(
            AuditAction.USER_DEACTIVATED,
            actor.tenant_id,
            actor=actor.user_id,
            target=user_id,
            ip=origin.ip,
            details={"sessionsRevoked": len(revoked)},
        )
        await self._session_tokens.revoke(revoked)
        return updated


# -- invitations -------------------------------------------------------------------------------


class InvitationService:
    """Invitations of INVITED users: opened with the user or again on request, then e-mailed.

    `open_for_new_user` and `resend` run inside the request's tenant transaction. `send` runs
    once that transaction has committed, since the workflow's activity must find the row; it
    starts UserInvitation, which draws the token, stores its hash and sends the e-mail.
    """

    def __init__(
        self,
        temporal: TemporalGateway,
        *,
        task_queue: str = INVITATION_TASK_QUEUE,
        ttl: timedelta = INVITATION_TTL,
    ) -> None:
        self._temporal = temporal
        self.task_queue = task_queue
        """Where the workflows start; tests point it at a queue of their own."""
        self.ttl = ttl

    async def open_for_new_user(
        self, actor: Actor, user: UserRecord, origin: Origin
    ) -> InvitationRecord | None:
        """The first invitation of a user just created without a password; None for any other user."""
        if user.status != INVITED:
            return None
        return await self._open(actor, user, origin, resent=False)

    async def resend(self, actor: Actor, user_id: UUID, origin: Origin) -> InvitationRecord:
        """A new invitation for a user still INVITED; every older one stops working now.

        The user row is locked, so two resends at once take turns and only the last stays open.
        """
        if not actor.is_manager:
            raise RoleNotAllowedError()
        target = await repository.get_user(actor.tenant_id, user_id, for_update=True)
        if target is None:
            raise UserNotFoundError()
        if not (actor.is_owner or target.role != OWNER):  # only an OWNER touches an OWNER
            raise RoleNotAllowedError()
        if target.status != INVITED:
            raise UserNotInvitedError()
        return await self._open(actor, target, origin, resent=True)

    async def _open(
        self, actor: Actor, user: UserRecord, origin: Origin, *, resent: bool
    ) -> InvitationRecord:
        now = _now()
        superseded = await repository.revoke_open_invitations(
            actor.tenant_id, user.user_id, reason="superseded", now=now
        )
        invitation = await repository.insert_invitation(
            invitation_id=uuid.uuid4(),
            tenant_id=actor.tenant_id,
            user_id=user.user_id,
            created_by=actor.user_id,
            created_at=now,
            expires_at=now + self.ttl,
        )
        await audit.record(
            AuditAction.INVITATION_CREATED,
            actor.tenant_id,
            actor=actor.user_id,
            target=user.user_id,
            ip=origin.ip,
            details={
                "invitationId": str(invitation.invitation_id),
                "expiresAt": invitation.expires_at.isoformat(),
                "resent": resent,
                "revoked": [str(invitation_id) for invitation_id in superseded],
            },
        )
        return invitation

    @staticmethod
    def workflow_id(invitation: InvitationRecord) -> str:
        return invitation_workflow_id(
            str(invitation.tenant_id), str(invitation.user_id), str(invitation.invitation_id)
        )

    async def send(self, invitation: InvitationRecord) -> bool:
        """Start the invitation's UserInvitation workflow; False, logged, when Temporal is out of reach.

        The invitation stays open either way, so a later resend can still reach the user.
        """
        try:
            client = await asyncio.wait_for(self._temporal.client(), TEMPORAL_CONNECT_TIMEOUT_SECONDS)
            await client.start_workflow(
                INVITATION_WORKFLOW_NAME,
                InvitationRequest(
                    tenant_id=str(invitation.tenant_id),
                    user_id=str(invitation.user_id),
                    invitation_id=str(invitation.invitation_id),
                ),
                id=self.workflow_id(invitation),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                execution_timeout=INVITATION_WORKFLOW_TIMEOUT,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(TENANT_ID, str(invitation.tenant_id)),
                        SearchAttributePair(USER_ID, str(invitation.user_id)),
                        SearchAttributePair(REQUEST_TYPE, INVITATION_REQUEST_TYPE),
                    ]
                ),
                rpc_timeout=TEMPORAL_START_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            return True
        except Exception as exc:  # a user is never lost because Temporal is down: it stays INVITED
            logger.warning(
                "invitation e-mail not started; a resend will send a new one",
                tenant_id=str(invitation.tenant_id),
                user_id=str(invitation.user_id),
                invitation_id=str(invitation.invitation_id),
                error=repr(exc),
            )
            return False
        return True


# -- authentication ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedTokens:
    access: IssuedAccessToken
    refresh_token: str
    user_id: UUID
    tenant_id: UUID
    session_id: UUID


@dataclass(frozen=True)
class TokenStatus:
    valid: bool
    user_id: UUID | None = None
    tenant_id: UUID | None = None
    roles: tuple[str, ...] = ()
    expiration_time: datetime | None = None


class AuthService:
    def __init__(
        self,
        settings: Settings,
        engine: Any,
        hasher: PasswordHasher,
        issuer: AccessTokenIssuer,
        throttle: LoginThrottle,
        session_tokens: SessionAccessTokens,
        key_set: KeySetProvider,
        denylist: AccessDenylist,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._hasher = hasher
        self._issuer = issuer
        self._throttle = throttle
        self._session_tokens = session_tokens
        self._key_set = key_set
        self._denylist = denylist

    # -- login ---------------------------------------------------------------------------------
    async def login(self, tenant_slug: str, email: str, password: str, origin: Origin) -> IssuedTokens:
        """Same answer and about the same time for a wrong tenant, account, status or password."""
        address = origin.ip or "unknown"
        if refusal := await self._throttle.count_login_request(address):
            raise _refusal_error(refusal)
        slug = tenant_slug.strip().lower()
        email = normalize_email(email)
        account = account_key(slug, email)
        if refusal := await self._throttle.refusal(account, address):
            raise _refusal_error(refusal)

        tenant: TenantRecord | None = None
        if SLUG_PATTERN.match(slug):
            async with platform_transaction(self._engine):
                tenant = await repository.find_tenant_by_slug(slug)
        if tenant is None or tenant.status != ACTIVE:
            await self._hasher.check(password, None)
            outcome = await self._throttle.record_failure(account, address)
            if outcome.locked_now:
                raise AccountLockedError(outcome.retry_after)
            raise InvalidCredentialsError()

        async with tenant_transaction(self._engine, tenant.tenant_id):
            found = await repository.find_user_with_hash(tenant.tenant_id, email)
        user, stored_hash = found if found is not None else (None, None)
        check = await self._hasher.check(password, stored_hash)

        if user is None or not check.valid or user.status != ACTIVE:
            reason = (
                "unknown_user" if user is None else ("bad_password" if not check.valid else "inactive_user")
            )
            outcome = await self._throttle.record_failure(account, address)
            async with tenant_transaction(self._engine, tenant.tenant_id):
                await audit.record(
                    AuditAction.LOGIN_FAILED,
                    tenant.tenant_id,
                    actor=None if user is None else user.user_id,
                    target=email,
                    ip=origin.ip,
                    details={"reason": reason, "failures": outcome.failures},
                )
                if outcome.locked_now:
                    await audit.record(
                        AuditAction.LOCKOUT,
                        tenant.tenant_id,
                        target=email,
                        ip=origin.ip,
                        details={"failures": outcome.failures, "seconds": outcome.retry_after},
                    )
            if outcome.locked_now:
                raise AccountLockedError(outcome.retry_after)
            raise InvalidCredentialsError()

        async with tenant_transaction(self._engine, tenant.tenant_id):
            current = await repository.get_user(tenant.tenant_id, user.user_id, for_update=True)
            if current is None or current.status != ACTIVE:
                raise InvalidCredentialsError()
            now = _now()
            changes: dict[str, Any] = {"last_login_at": now}
            if check.replacement_hash is not None:
                changes["password_hash"] = check.replacement_hash
            await repository.update_user(tenant.tenant_id, user.user_id, changes, now)
            issued = await self._open_session(tenant, current, origin, now)
            await audit.record(
                AuditAction.LOGIN_SUCCEEDED,
                tenant.tenant_id,
                actor=user.user_id,
                target=user.user_id,
                ip=origin.ip,
                details={"sessionId": str(issued.session_id), "rehashed": check.replacement_hash is not None},
            )
        await self._throttle.record_success(account)
        await self._session_tokens.remember(issued.session_id, issued.access)
        return issued

    async def _open_session(
        self, tenant: TenantRecord, user: UserRecord, origin: Origin, now: datetime
    ) -> IssuedTokens:
        session_id = uuid.uuid4()
        expires_at = now + timedelta(seconds=self._settings.refresh_token_ttl_seconds)
        await repository.insert_session(
            session_id=session_id,
            tenant_id=tenant.tenant_id,
            user_id=user.user_id,
            expires_at=expires_at,
            user_agent=origin.user_agent,
            ip_address=origin.ip,
        )
        refresh_token, digest = new_refresh_token()
        await repository.insert_refresh_token(
            token_id=uuid.uuid4(),
            tenant_id=tenant.tenant_id,
            session_id=session_id,
            token_hash=digest,
            expires_at=expires_at,
        )
        access = self._issuer.issue(self._subject(tenant, user, session_id))
        return IssuedTokens(access, refresh_token, user.user_id, tenant.tenant_id, session_id)

    def _subject(self, tenant: TenantRecord, user: UserRecord, session_id: UUID) -> AccessTokenSubject:
        return AccessTokenSubject(
            user_id=user.user_id,
            tenant_id=tenant.tenant_id,
            roles=(user.role,),
            session_id=session_id,
            locale=user.locale,
            plan=tenant.plan,
        )

    # -- refresh -------------------------------------------------------------------------------
    async def refresh(self, refresh_token: str, origin: Origin) -> IssuedTokens:
        """Rotate: the presented token is spent and a new one issued in the same family.

        A spent token presented again within the grace period is a client racing itself
        (two tabs refreshing at once): it gets a sibling in the same family. Later, it is
        theft or replay: the whole family is revoked and the event audited.
        """
        if not refresh_token or len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH:
            raise InvalidRefreshTokenError()
        digest = hash_refresh_token(refresh_token)
        async with platform_transaction(self._engine):
            tenant_id = await repository.find_refresh_token_tenant(digest)
        if tenant_id is None:
            raise InvalidRefreshTokenError()

        rejection: ProblemError | None = None
        revoked: list[UUID] = []
        issued: IssuedTokens | None = None
        async with tenant_transaction(self._engine, tenant_id):
            now = _now()
            token = await repository.lock_refresh_token(tenant_id, digest)
            session = None if token is None else await repository.get_session(tenant_id, token.session_id)
            if token is None or session is None or session.revoked_at is not None:
                rejection = InvalidRefreshTokenError()
            elif token.expires_at <= now or session.expires_at <= now:
                rejection = InvalidRefreshTokenError()
            elif token.rotated_at is not None and (
                now - token.rotated_at > timedelta(seconds=self._settings.refresh_reuse_grace_seconds)
            ):
                revoked = await repository.revoke_sessions(
                    tenant_id,
                    user_id=session.user_id,
                    reason="refresh_reuse",
                    now=now,
                    only=session.session_id,
                )
                await audit.record(
                    AuditAction.REFRESH_REUSE,
                    tenant_id,
                    actor=session.user_id,
                    target=session.session_id,
                    ip=origin.ip,
                    details={"rotatedAt": token.rotated_at.isoformat(), "sessionId": str(session.session_id)},
                )
                rejection = RefreshTokenReusedError()
            else:
                tenant = await repository.get_tenant(tenant_id)
                user = await repository.get_user(tenant_id, session.user_id)
                if tenant is None or user is None or tenant.status != ACTIVE or user.status != ACTIVE:
                    revoked = await repository.revoke_sessions(
                        tenant_id, user_id=session.user_id, reason="account_inactive", now=now,
                        only=session.session_id,
                    )  # fmt: skip
                    rejection = InvalidRefreshTokenError()
                else:
                    issued = await self._rotate(tenant, user, session, token, now)
        await self._session_tokens.revoke(revoked)
        if rejection is not None or issued is None:
            raise rejection or InvalidRefreshTokenError()
        await self._session_tokens.remember(issued.session_id, issued.access)
        return issued

    async def _rotate(
        self,
        tenant: TenantRecord,
        user: UserRecord,
        session: SessionRecord,
        token: repository.RefreshTokenRecord,
        now: datetime,
    ) -> IssuedTokens:
        refresh_token, digest = new_refresh_token()
        new_token_id = uuid.uuid4()
        await repository.insert_refresh_token(
            token_id=new_token_id,
            tenant_id=tenant.tenant_id,
            session_id=session.session_id,
            token_hash=digest,
            expires_at=session.expires_at,
        )
        if token.rotated_at is None:
            await repository.mark_refresh_token_rotated(
                tenant.tenant_id, token.token_id, now=now, replaced_by=new_token_id
            )
        await repository.touch_session(tenant.tenant_id, session.session_id, now)
        access = self._issuer.issue(self._subject(tenant, user, session.session_id))
        return IssuedTokens(access, refresh_token, user.user_id, tenant.tenant_id, session.session_id)

    # -- invitations ---------------------------------------------------------------------------
    async def accept_invitation(
        self, token: str, password: str, full_name: str | None, origin: Origin
    ) -> IssuedTokens:
        """Set an invited user's password, spend the invitation and sign the user in.

        The token names one invitation, so its holder learns that invitation's state (expired,
        accepted, replaced) and nothing about any other user. Like login, the password is
        hashed outside any transaction, and the invitation is checked again under a row lock
        afterwards, so two acceptances of one token cannot both succeed.
        """
        if refusal := await self._throttle.count_invitation_request(origin.ip or "unknown"):
            raise _refusal_error(refusal)
        if not token or len(token) > invitations.MAX_TOKEN_LENGTH:
            raise InvalidInvitationError()
        async with platform_transaction(self._engine):
            found = await repository.find_invitation_token(invitations.hash_invitation_token(token))
        if found is None:
            raise InvalidInvitationError()
        tenant_id, invitation_id = found
        async with tenant_transaction(self._engine, tenant_id):
            invitation = await self._open_invitation(tenant_id, invitation_id)
            invited = await repository.get_user(tenant_id, invitation.user_id)
        if invited is None:
            raise InvalidInvitationError()
        raise_if_invalid([password_error(password, invited.email)])
        password_hash = await self._hasher.hash(password)
        async with tenant_transaction(self._engine, tenant_id):
            # The user's row first, then the invitation's (the order a resend takes them in), so
            # every check below reads what the last acceptance or resend committed.
            user = await repository.get_user(tenant_id, invited.user_id, for_update=True)
            await self._open_invitation(tenant_id, invitation_id, for_update=True)
            tenant = await repository.get_tenant(tenant_id)
            if user is None or tenant is None or user.status != INVITED or tenant.status != ACTIVE:
                raise InvalidInvitationError()
            now = _now()
            changes: dict[str, Any] = {
                "password_hash": password_hash,
                "password_changed_at": now,
                "status": ACTIVE,
                "last_login_at": now,
            }
            if full_name is not None:
                changes["full_name"] = full_name
            activated = await repository.update_user(tenant_id, user.user_id, changes, now)
            if activated is None:
                raise InvalidInvitationError()
            await repository.mark_invitation_accepted(tenant_id, invitation_id, now)
            issued = await self._open_session(tenant, activated, origin, now)
            await audit.record(
                AuditAction.INVITATION_ACCEPTED,
                tenant_id,
                actor=user.user_id,
                target=user.user_id,
                ip=origin.ip,
                details={
                    "invitationId": str(invitation_id),
                    "sessionId": str(issued.session_id),
                    "fullNameChanged": full_name is not None and full_name != user.full_name,
                },
            )
        await self._session_tokens.remember(issued.session_id, issued.access)
        return issued

    @staticmethod
    async def _open_invitation(
        tenant_id: UUID, invitation_id: UUID, *, for_update: bool = False
    ) -> InvitationRecord:
        """The invitation while it is open, or the problem that says why it cannot be used."""
        invitation = await repository.get_invitation(tenant_id, invitation_id, for_update=for_update)
        if invitation is None:
            raise InvalidInvitationError()
        closed = invitations.closed_reason(
            accepted_at=invitation.accepted_at,
            revoked_at=invitation.revoked_at,
            expires_at=invitation.expires_at,
            now=_now(),
        )
        if closed == invitations.ACCEPTED:
            raise InvitationUsedError()
        if closed == invitations.REVOKED:
            raise InvitationRevokedError()
        if closed == invitations.EXPIRED:
            raise InvitationExpiredError()
        return invitation

    async def validate(self, token: str) -> TokenStatus:
        """The seed's validateToken: what another service would conclude from this token."""
        try:
            claims = await verify_access_token(token, self._key_set, self._settings)
            if await self._denylist.is_revoked(claims.jti):
                return TokenStatus(valid=False)
        except AuthenticationError:
            return TokenStatus(valid=False)
        return TokenStatus(
            valid=True,
            user_id=claims.user_id,
            tenant_id=claims.tenant_id,
            roles=claims.roles,
            expiration_time=claims.expires_at,
        )

    # -- the rest run inside the request's tenant transaction ----------------------------------
    async def logout(self, actor: Actor, jti: str, expires_at: datetime, origin: Origin) -> None:
        """The session's refresh family ends and this access token is denylisted until it expires."""
        revoked: list[UUID] = []
        if actor.session_id is not None:
            revoked = await repository.revoke_sessions(
                actor.tenant_id, user_id=actor.user_id, reason="logout", now=_now(), only=actor.session_id
            )
        await audit.record(
            AuditAction.LOGOUT,
            actor.tenant_id,
            actor=actor.user_id,
            target=None if actor.session_id is None else actor.session_id,
            ip=origin.ip,
        )
        await self._session_tokens.revoke(revoked)
        remaining = int((expires_at - _now()).total_seconds()) + 1
        if remaining > 0:
            await self._session_tokens.revoke_access_token(jti, remaining)

    async def change_password(
        self, actor: Actor, current_password: str, new_password: str, origin: Origin
    ) -> None:
        """Every other session ends; the one that asked stays logged in."""
        user = await repository.get_user(actor.tenant_id, actor.user_id, for_update=True)
        tenant = await repository.get_tenant(actor.tenant_id)
        if user is None or tenant is None:
            raise UserNotFoundError()
        address = origin.ip or "unknown"
        account = account_key(tenant.slug, user.email)
        if refusal := await self._throttle.refusal(account, address):
            raise _refusal_error(refusal)
        stored_hash = await repository.get_password_hash(actor.tenant_id, actor.user_id)
        if not (await self._hasher.check(current_password, stored_hash)).valid:
            outcome = await self._throttle.record_failure(account, address)
            if outcome.locked_now:
                raise AccountLockedError(outcome.retry_after)
            raise ValidationProblem(
                errors=[{"field": "currentPassword", "message": N_("The current password is not correct.")}]
            )
        errors: list[FieldError | None] = [password_error(new_password, user.email, "newPassword")]
        if new_password == current_password:
            errors.append({"field": "newPassword", "message": N_("Must differ from the current password.")})
        raise_if_invalid(errors)
        now = _now()
        new_hash = await self._hasher.hash(new_password)
        await repository.update_user(
            actor.tenant_id, actor.user_id, {"password_hash": new_hash, "password_changed_at": now}, now
        )
        revoked = await repository.revoke_sessions(
            actor.tenant_id, user_id=actor.user_id, reason="password_changed", now=now, keep=actor.session_id
        )
        await audit.record(
            AuditAction.PASSWORD_CHANGED,
            actor.tenant_id,
            actor=actor.user_id,
            target=actor.user_id,
            ip=origin.ip,
            details={"sessionsRevoked": len(revoked)},
        )
        await self._throttle.record_success(account)
        await self._session_tokens.revoke(revoked)

    async def list_sessions(self, actor: Actor) -> list[SessionRecord]:
        return await repository.list_active_sessions(actor.tenant_id, actor.user_id, _now())

    async def revoke_session(self, actor: Actor, session_id: UUID, origin: Origin) -> None:
        revoked = await repository.revoke_sessions(
            actor.tenant_id, user_id=actor.user_id, reason="revoked_by_user", now=_now(), only=session_id
        )
        if not revoked:
            raise SessionNotFoundError()
        await audit.record(
            AuditAction.SESSION_REVOKED,
            actor.tenant_id,
            actor=actor.user_id,
            target=session_id,
            ip=origin.ip,
        )
        await self._session_tokens.revoke(revoked)


# -- sign-up -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignupDraft:
    tenant_name: str
    slug: str
    admin_email: str
    password: str
    full_name: str
    locale: str


@dataclass(frozen=True)
class SignupStarted:
    slug: str
    workflow_id: str
    status: str


class TemporalGateway:
    """Connects on first use, so the API starts (and logs people in) while Temporal is down."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect_client(self._settings)
        return self._client

    @property
    def connected(self) -> Client | None:
        return self._client


_STATUS_BY_EXECUTION: Mapping[WorkflowExecutionStatus, str] = {
    WorkflowExecutionStatus.RUNNING: "RUNNING",
    WorkflowExecutionStatus.COMPLETED: "COMPLETED",
    WorkflowExecutionStatus.FAILED: "FAILED",
    WorkflowExecutionStatus.CANCELED: "FAILED",
    WorkflowExecutionStatus.TERMINATED: "FAILED",
    WorkflowExecutionStatus.TIMED_OUT: "FAILED",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "RUNNING",
}


class SignupService:
    def __init__(
        self,
        settings: Settings,
        engine: Any,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        temporal: TemporalGateway,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._hasher = hasher
        self._throttle = throttle
        self._temporal = temporal

    async def _temporal_client(self) -> Client:
        try:
            return await self._temporal.client()
        except (RPCError, RuntimeError, OSError) as exc:
            raise ServiceUnavailableError(
                N_("Sign-up is temporarily unavailable. Please try again in a minute."), retry_after=30
            ) from exc

    async def start(self, draft: SignupDraft, origin: Origin) -> SignupStarted:
        """Check everything that can be checked here, then hand the work to TenantOnboarding.

        The password is hashed now, so only its hash ever enters the workflow's history.
        """
        if refusal := await self._throttle.count_signup_request(origin.ip or "unknown"):
            raise _refusal_error(refusal)
        email = normalize_email(draft.admin_email)
        raise_if_invalid(
            [
                slug_error(draft.slug),
                email_error(email, "adminEmail"),
                password_error(draft.password, email),
                locale_error(draft.locale),
            ]
        )
        async with platform_transaction(self._engine):
            taken = await repository.tenant_slug_or_domain_taken(draft.slug, default_domain(draft.slug))
        if taken:
            raise SlugTakenError(draft.slug)
        password_hash = await self._hasher.hash(draft.password)
        workflow_id = onboarding_workflow_id(draft.slug)
        client = await self._temporal_client()
        try:
            await client.start_workflow(
                WORKFLOW_NAME,
                OnboardingInput(
                    tenant_name=draft.tenant_name,
                    slug=draft.slug,
                    admin_email=email,
                    admin_password_hash=password_hash,
                    admin_full_name=draft.full_name,
                    locale=canonical_locale(draft.locale) or self._settings.default_locale,
                ),
                id=workflow_id,
                task_queue=TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(TENANT_ID, draft.slug),
                        SearchAttributePair(REQUEST_TYPE, ONBOARDING_REQUEST_TYPE),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError as exc:
            raise SignupInProgressError(draft.slug) from exc
        return SignupStarted(slug=draft.slug, workflow_id=workflow_id, status="RUNNING")

    async def progress(self, slug: str) -> tuple[str, OnboardingProgress]:
        """The workflow's own progress report, or its execution status when no worker answers."""
        if not SLUG_PATTERN.match(slug):
            raise SignupNotFoundError()
        client = await self._temporal_client()
        handle = client.get_workflow_handle(onboarding_workflow_id(slug))
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise SignupNotFoundError() from exc
            raise
        status = _STATUS_BY_EXECUTION.get(description.status or WorkflowExecutionStatus.RUNNING, "RUNNING")
        try:
            progress = await handle.query(
                "progress", result_type=OnboardingProgress, rpc_timeout=SIGNUP_QUERY_TIMEOUT
            )
        except Exception:  # no worker, or an older workflow: the execution status still helps
            return handle.id, OnboardingProgress(status=status, percent=100 if status == "COMPLETED" else 0)
        return handle.id, progress


# -- operator commands -------------------------------------------------------------------------


async def create_superadmin(
    settings: Settings, email: str, password: str, full_name: str, *, engine: Any | None = None
) -> UserRecord:
    """Create the platform tenant if missing and a SUPERADMIN in it (an operator command).

    Idempotent: run again for an existing account, it sets the given password and name.
    """
    email = normalize_email(email)
    raise_if_invalid([email_error(email), password_error(password, email)])
    hasher = PasswordHasher(settings)
    password_hash = await hasher.hash(password)
    async with identity_database(settings, engine=engine) as database:
        async with platform_transaction(database.engine):
            tenant = await repository.find_tenant_by_slug(PLATFORM_TENANT_SLUG)
            if tenant is None:
                tenant = await repository.insert_tenant(
                    tenant_id=uuid.uuid4(),
                    name="Mr Bill platform",
                    slug=PLATFORM_TENANT_SLUG,
                    domain=default_domain(PLATFORM_TENANT_SLUG),
                    plan="PRO",
                    status=ACTIVE,
                    default_locale=settings.default_locale,
                    settings={},
                )
                await audit.record(AuditAction.TENANT_CREATED, tenant.tenant_id, target=tenant.tenant_id)
            existing = await repository.find_user_with_hash(tenant.tenant_id, email)
            now = _now()
            if existing is not None:
                user = await repository.update_user(
                    tenant.tenant_id,
                    existing[0].user_id,
                    {
                        "password_hash": password_hash,
                        "password_changed_at": now,
                        "full_name": full_name,
                        "role": SUPERADMIN,
                        "status": ACTIVE,
                    },
                    now,
                )
                if user is None:
                    raise UserNotFoundError()
                return user
            user = await repository.insert_user(
                user_id=uuid.uuid4(),
                tenant_id=tenant.tenant_id,
                email=email,
                password_hash=password_hash,
                full_name=full_name,
                role=SUPERADMIN,
                locale=None,
                status=ACTIVE,
            )
            await audit.record(
                AuditAction.USER_CREATED,
                tenant.tenant_id,
                target=user.user_id,
                details={"email": email, "role": SUPERADMIN},
            )
            return user
