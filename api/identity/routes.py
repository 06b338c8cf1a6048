"""Identity's HTTP surface. Handlers open the request's transaction and call the service.

Ids of another tenant's rows answer 404, exactly like ids that do not exist: row-level
security makes them invisible, so the service cannot tell the difference either.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from litestar.types import ControllerRouterHandler

from api.common.auth import TokenClaims, current_claims
from api.common.errors import ServiceUnavailableError
from api.common.i18n import N_
from api.common.pagination import Page, PageParams
from api.identity import audit
from api.identity.deps import IdentityRuntime
from api.identity.guards import managers_only, superadmin_only
from api.identity.keys import PUBLISHED_KEYS
from api.identity.schemas import (
    AuditEventOut,
    AuthTokens,
    InvitationAcceptance,
    InvitationOut,
    LoginRequest,
    PasswordChange,
    Plan,
    ProfileUpdate,
    RefreshRequest,
    Role,
    SessionOut,
    SignupAccepted,
    SignupRequest,
    SignupStatus,
    TenantCreate,
    TenantOut,
    TenantStatus,
    TenantUpdate,
    TokenStatusOut,
    UserCreate,
    UserOut,
    UserStatus,
    UserUpdate,
    ValidateRequest,
)
from api.identity.service import (
    Actor,
    IssuedTokens,
    Origin,
    SignupDraft,
    TenantChanges,
    TenantDraft,
    UserChanges,
    UserDraft,
)

PUBLIC: dict[str, Any] = {"public": True}

Identity = NamedDependency[IdentityRuntime]
CurrentActor = NamedDependency[Actor]
Claims = NamedDependency[TokenClaims]
RequestOrigin = NamedDependency[Origin]
Paging = NamedDependency[PageParams]

SearchText = Annotated[
    str | None, QueryParameter(name="q", max_length=100, description="Part of a name, slug or e-mail.")
]
RoleFilter = Annotated[Role | None, QueryParameter(name="role", description="Only users with this role.")]
UserStatusFilter = Annotated[
    UserStatus | None, QueryParameter(name="status", description="Only users in this status.")
]
TenantStatusFilter = Annotated[
    TenantStatus | None, QueryParameter(name="status", description="Only tenants in this status.")
]
PlanFilter = Annotated[Plan | None, QueryParameter(name="plan", description="Only tenants on this plan.")]


def _tokens(issued: IssuedTokens) -> AuthTokens:
    return AuthTokens(
        access_token=issued.access.token,
        refresh_token=issued.refresh_token,
        expires_in=issued.access.expires_in,
        user_id=issued.user_id,
        tenant_id=issued.tenant_id,
    )


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar's declared class attribute

    @post("/login", operation_id="login", status_code=HTTP_200_OK, opt=PUBLIC, security=[])
    async def login(
        self, data: JSONBody[LoginRequest], identity: Identity, origin: RequestOrigin
    ) -> AuthTokens:
        """Exchange a tenant slug, e-mail and password for an access token and a refresh token."""
        issued = await identity.auth.login(data.tenant_slug, data.email, data.password, origin)
        return _tokens(issued)

    @post("/refresh", operation_id="refreshToken", status_code=HTTP_200_OK, opt=PUBLIC, security=[])
    async def refresh(
        self, data: JSONBody[RefreshRequest], identity: Identity, origin: RequestOrigin
    ) -> AuthTokens:
        """Spend a refresh token for a new pair; a spent token presented again closes the session."""
        return _tokens(await identity.auth.refresh(data.refresh_token, origin))

    @post("/logout", operation_id="logout", status_code=HTTP_204_NO_CONTENT)
    async def logout(
        self, identity: Identity, actor: CurrentActor, claims: Claims, origin: RequestOrigin
    ) -> None:
        """End this session: its refresh tokens stop working and this access token is denylisted."""
        async with identity.tenant_scope(actor.tenant_id):
            await identity.auth.logout(actor, claims.jti, claims.expires_at, origin)

    @post("/validate", operation_id="validateToken", status_code=HTTP_200_OK, opt=PUBLIC, security=[])
    async def validate(self, data: JSONBody[ValidateRequest], identity: Identity) -> TokenStatusOut:
        """Whether an access token would be accepted now, and what it says."""
        status = await identity.auth.validate(data.token)
        return TokenStatusOut(
            valid=status.valid,
            user_id=status.user_id,
            tenant_id=status.tenant_id,
            roles=list(status.roles),
            expiration_time=status.expiration_time,
        )


class MeController(Controller):
    path = "/v1/me"
    tags = ["me"]  # noqa: RUF012

    @get("/", operation_id="getMe")
    async def get_me(self, request: Request[TokenClaims, str, Any], identity: Identity) -> UserOut:
        """The caller's own profile."""
        # The hottest route, kept to one dependency (Litestar resolves two or more at the same
        # level in an anyio task group: a tenth of this route's CPU) and one database round trip.
        claims = current_claims(request)
        return UserOut.from_record(await identity.users.get_own_profile(claims.tenant_id, claims.user_id))

    @patch("/", operation_id="updateMe")
    async def update_me(
        self, data: JSONBody[ProfileUpdate], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> UserOut:
        async with identity.tenant_scope(actor.tenant_id):
            user = await identity.users.update_profile(
                actor, full_name=data.full_name, locale=data.locale, origin=origin
            )
        return UserOut.from_record(user)

    @post("/password", operation_id="changeMyPassword", status_code=HTTP_204_NO_CONTENT)
    async def change_password(
        self, data: JSONBody[PasswordChange], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> None:
        """Every other session of the caller ends; this one stays."""
        async with identity.tenant_scope(actor.tenant_id):
            await identity.auth.change_password(actor, data.current_password, data.new_password, origin)

    @get("/sessions", operation_id="listMySessions")
    async def list_sessions(
        self, identity: Identity, actor: CurrentActor, claims: Claims
    ) -> list[SessionOut]:
        async with identity.tenant_scope(actor.tenant_id):
            sessions = await identity.auth.list_sessions(actor)
        return [SessionOut.from_record(session, claims.session_id) for session in sessions]

    @delete("/sessions/{session_id:uuid}", operation_id="revokeMySession", status_code=HTTP_204_NO_CONTENT)
    async def revoke_session(
        self, session_id: FromPath[UUID], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> None:
        async with identity.tenant_scope(actor.tenant_id):
            await identity.auth.revoke_session(actor, session_id, origin)


class UserController(Controller):
    path = "/v1/users"
    tags = ["users"]  # noqa: RUF012

    @post("/", operation_id="createUser", guards=[managers_only])
    async def create_user(
        self, data: JSONBody[UserCreate], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> Response[UserOut]:
        """Create (with a password) or invite (without one) a user of the caller's tenant.

        An invited user gets an e-mail with a link to choose a password, valid for 7 days; it is
        sent by the UserInvitation workflow once the user is saved.
        """
        draft = UserDraft(
            email=data.email,
            full_name=data.full_name,
            role=data.role,
            locale=data.locale,
            password=data.password,
        )
        async with identity.tenant_scope(actor.tenant_id):
            user = await identity.users.create_user(actor, draft, origin)
            invitation = await identity.invitations.open_for_new_user(actor, user, origin)
        if invitation is not None:
            await identity.invitations.send(invitation)
        return Response(
            UserOut.from_record(user), status_code=201, headers={"Location": f"/v1/users/{user.user_id}"}
        )

    @get("/", operation_id="listUsers")
    async def list_users(
        self,
        identity: Identity,
        actor: CurrentActor,
        paging: Paging,
        q: SearchText = None,
        role: RoleFilter = None,
        status: UserStatusFilter = None,
    ) -> Page[UserOut]:
        async with identity.tenant_scope(actor.tenant_id):
            users, total = await identity.users.list_users(
                actor, role=role, status=status, query=q, offset=paging.offset, limit=paging.limit
            )
        return Page.build([UserOut.from_record(user) for user in users], total, paging)

    @get("/{user_id:uuid}", operation_id="getUser")
    async def get_user(self, user_id: FromPath[UUID], identity: Identity, actor: CurrentActor) -> UserOut:
        async with identity.tenant_scope(actor.tenant_id):
            user = await identity.users.get_user(actor, user_id)
        return UserOut.from_record(user)

    @patch("/{user_id:uuid}", operation_id="updateUser", guards=[managers_only])
    async def update_user(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[UserUpdate],
        identity: Identity,
        actor: CurrentActor,
        origin: RequestOrigin,
    ) -> UserOut:
        changes = UserChanges(full_name=data.full_name, locale=data.locale, role=data.role)
        async with identity.tenant_scope(actor.tenant_id):
            user = await identity.users.update_user(actor, user_id, changes, origin)
        return UserOut.from_record(user)

    @post(
        "/{user_id:uuid}/deactivate",
        operation_id="deactivateUser",
        guards=[managers_only],
        status_code=HTTP_200_OK,
    )
    async def deactivate_user(
        self, user_id: FromPath[UUID], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> UserOut:
        """The user can no longer log in; every session ends now."""
        async with identity.tenant_scope(actor.tenant_id):
            user = await identity.users.deactivate_user(actor, user_id, origin)
        return UserOut.from_record(user)

    @post(
        "/{user_id:uuid}/invitations",
        operation_id="resendInvitation",
        guards=[managers_only],
        status_code=HTTP_202_ACCEPTED,
    )
    async def resend_invitation(
        self, user_id: FromPath[UUID], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> InvitationOut:
        """E-mail an INVITED user a new invitation; the links of the older ones stop working now."""
        async with identity.tenant_scope(actor.tenant_id):
            invitation = await identity.invitations.resend(actor, user_id, origin)
        if not await identity.invitations.send(invitation):
            raise ServiceUnavailableError(
                N_("The invitation was saved but cannot be e-mailed now. Please try again in a minute."),
                retry_after=30,
            )
        return InvitationOut.from_record(invitation, identity.invitations.workflow_id(invitation))


class InvitationController(Controller):
    path = "/v1/invitations"
    tags = ["invitations"]  # noqa: RUF012

    @post("/accept", operation_id="acceptInvitation", status_code=HTTP_200_OK, opt=PUBLIC, security=[])
    async def accept(
        self, data: JSONBody[InvitationAcceptance], identity: Identity, origin: RequestOrigin
    ) -> AuthTokens:
        """Choose a password with the code of an invitation e-mail; the answer signs the user in.

        The code works once, for 7 days, and only while it is the user's latest invitation.
        """
        issued = await identity.auth.accept_invitation(data.token, data.password, data.full_name, origin)
        return _tokens(issued)


class TenantController(Controller):
    path = "/v1/tenants"
    tags = ["tenants"]  # noqa: RUF012
    guards = [superadmin_only]  # noqa: RUF012

    @post("/", operation_id="createTenant")
    async def create_tenant(
        self, data: JSONBody[TenantCreate], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> Response[TenantOut]:
        draft = TenantDraft(
            name=data.name,
            slug=data.slug,
            plan=data.subscription_plan,
            status=data.status,
            domain=data.domain,
            default_locale=data.default_locale,
            settings=data.settings,
        )
        async with identity.platform_scope():
            tenant = await identity.tenants.create_tenant(actor, draft, origin)
        return Response(
            TenantOut.from_record(tenant),
            status_code=201,
            headers={"Location": f"/v1/tenants/{tenant.tenant_id}"},
        )

    @get("/", operation_id="listTenants")
    async def list_tenants(
        self,
        identity: Identity,
        paging: Paging,
        q: SearchText = None,
        status: TenantStatusFilter = None,
        plan: PlanFilter = None,
    ) -> Page[TenantOut]:
        async with identity.platform_scope():
            tenants, total = await identity.tenants.list_tenants(
                status=status, plan=plan, query=q, offset=paging.offset, limit=paging.limit
            )
        return Page.build([TenantOut.from_record(tenant) for tenant in tenants], total, paging)

    @get("/{tenant_id:uuid}", operation_id="getTenant")
    async def get_tenant(self, tenant_id: FromPath[UUID], identity: Identity) -> TenantOut:
        async with identity.platform_scope():
            tenant = await identity.tenants.get_tenant(tenant_id)
        return TenantOut.from_record(tenant)

    @patch("/{tenant_id:uuid}", operation_id="updateTenant")
    async def update_tenant(
        self,
        tenant_id: FromPath[UUID],
        data: JSONBody[TenantUpdate],
        identity: Identity,
        actor: CurrentActor,
        origin: RequestOrigin,
    ) -> TenantOut:
        changes = TenantChanges(
            name=data.name,
            plan=data.subscription_plan,
            status=data.status,
            default_locale=data.default_locale,
            settings=data.settings,
        )
        async with identity.platform_scope():
            tenant = await identity.tenants.update_tenant(actor, tenant_id, changes, origin)
        return TenantOut.from_record(tenant)

    @post("/{tenant_id:uuid}/deactivate", operation_id="deactivateTenant", status_code=HTTP_200_OK)
    async def deactivate_tenant(
        self, tenant_id: FromPath[UUID], identity: Identity, actor: CurrentActor, origin: RequestOrigin
    ) -> TenantOut:
        """Nobody of the tenant can log in any more; every session ends now."""
        async with identity.platform_scope():
            tenant = await identity.tenants.deactivate_tenant(actor, tenant_id, origin)
        return TenantOut.from_record(tenant)


AuditActionName = Literal[
    "login_succeeded",
    "login_failed",
    "lockout",
    "refresh_reuse",
    "logout",
    "password_changed",
    "role_changed",
    "user_created",
    "user_updated",
    "user_deactivated",
    "session_revoked",
    "tenant_created",
    "tenant_updated",
    "tenant_deactivated",
    "invitation_created",
    "invitation_accepted",
]


ActionFilter = Annotated[
    AuditActionName | None, QueryParameter(name="action", description="Only events of this action.")
]


@get("/v1/audit-events", operation_id="listAuditEvents", tags=["audit"], guards=[managers_only])
async def list_audit_events(
    identity: Identity, actor: CurrentActor, paging: Paging, action: ActionFilter = None
) -> Page[AuditEventOut]:
    """The caller's tenant's audit log, newest first."""
    async with identity.tenant_scope(actor.tenant_id):
        events, total = await audit.list_events(
            actor.tenant_id, action=action, offset=paging.offset, limit=paging.limit
        )
    return Page.build([AuditEventOut.from_event(event) for event in events], total, paging)


class SignupController(Controller):
    path = "/v1/signup"
    tags = ["signup"]  # noqa: RUF012

    @post("/", operation_id="signUp", status_code=HTTP_202_ACCEPTED, opt=PUBLIC, security=[])
    async def sign_up(
        self, data: JSONBody[SignupRequest], identity: Identity, origin: RequestOrigin
    ) -> Response[SignupAccepted]:
        """Start the TenantOnboarding workflow; poll the Location for its progress."""
        draft = SignupDraft(
            tenant_name=data.tenant_name,
            slug=data.slug,
            admin_email=data.admin_email,
            password=data.password,
            full_name=data.full_name,
            locale=data.locale,
        )
        started = await identity.signups.start(draft, origin)
        location = f"/v1/signup/{started.slug}"
        body = SignupAccepted(
            signup_id=started.slug, workflow_id=started.workflow_id, status=started.status, location=location
        )
        return Response(body, status_code=HTTP_202_ACCEPTED, headers={"Location": location})

    @get("/{signup_id:str}", operation_id="getSignup", opt=PUBLIC, security=[])
    async def get_signup(self, signup_id: FromPath[str], identity: Identity) -> SignupStatus:
        workflow_id, progress = await identity.signups.progress(signup_id)
        return SignupStatus.from_progress(signup_id, workflow_id, progress)


@get(
    "/.well-known/jwks.json",
    operation_id="getJwks",
    tags=["auth"],
    opt=PUBLIC,
    security=[],
    sync_to_thread=False,
)
def jwks(identity: Identity) -> Response[dict[str, Any]]:
    """Identity's public keys: the signing key and the one before it (rotation)."""
    keys = identity.keys.public_keys()[:PUBLISHED_KEYS]
    return Response(
        {"keys": keys},
        headers={"Cache-Control": f"public, max-age={identity.settings.jwks_cache_seconds}"},
    )


ROUTE_HANDLERS: list[ControllerRouterHandler] = [
    AuthController,
    MeController,
    UserController,
    InvitationController,
    TenantController,
    SignupController,
    list_audit_events,
    jwks,
]
