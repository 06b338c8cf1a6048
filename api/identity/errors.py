"""Identity's problems: the kernel's classes with codes a client can act on.

Titles and details are English msgids translated by the kernel's handler (catalogs in
``api/identity/locale``). Login failures share one message whatever went wrong, so nobody
learns whether a tenant, an account or a password was the problem.
"""

from __future__ import annotations

from api.common.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LockedError,
    NotFoundError,
    PermissionDeniedError,
    ProblemError,
    RateLimitedError,
)
from api.common.i18n import N_


class InvalidCredentialsError(AuthenticationError):
    code = "invalid-credentials"
    title = N_("Invalid credentials")

    def __init__(self) -> None:
        super().__init__(N_("The tenant, e-mail or password is not correct."))


class InvalidRefreshTokenError(AuthenticationError):
    code = "invalid-refresh-token"
    title = N_("Invalid refresh token")

    def __init__(self) -> None:
        super().__init__(N_("The refresh token is invalid, expired or revoked. Please log in again."))


class RefreshTokenReusedError(AuthenticationError):
    code = "refresh-token-reused"
    title = N_("Refresh token reused")

    def __init__(self) -> None:
        super().__init__(
            N_("This refresh token was used before, so the session was closed. Please log in again.")
        )


class AccountLockedError(LockedError):
    code = "account-locked"
    title = N_("Too many failed attempts")

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            N_("Too many failed login attempts. Try again in {seconds} s."),
            retry_after=retry_after,
            seconds=retry_after,
        )


class LoginDelayedError(RateLimitedError):
    code = "login-delayed"
    title = N_("Too many failed attempts")

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            N_("Please wait {seconds} s before trying again."),
            retry_after=retry_after,
            seconds=retry_after,
        )


class TooManyRequestsError(RateLimitedError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            N_("Too many requests from this address. Try again in {seconds} s."),
            retry_after=retry_after,
            seconds=retry_after,
        )


class UserNotFoundError(NotFoundError):
    code = "user-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such user in this tenant."))


class TenantNotFoundError(NotFoundError):
    code = "tenant-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such tenant."))


class SessionNotFoundError(NotFoundError):
    code = "session-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such session."))


class SignupNotFoundError(NotFoundError):
    code = "signup-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No sign-up was started for this slug."))


class EmailTakenError(ConflictError):
    code = "email-taken"

    def __init__(self) -> None:
        super().__init__(N_("A user with this e-mail already exists in this tenant."))


class SlugTakenError(ConflictError):
    code = "slug-taken"

    def __init__(self, slug: str) -> None:
        super().__init__(N_("The address {slug} is already taken."), slug=slug)


class SignupInProgressError(ConflictError):
    code = "signup-in-progress"

    def __init__(self, slug: str) -> None:
        super().__init__(N_("A sign-up for {slug} is already in progress or done."), slug=slug)


class UserQuotaExceededError(ConflictError):
    code = "user-quota-exceeded"

    def __init__(self, plan: str, limit: int) -> None:
        super().__init__(N_("The {plan} plan allows at most {limit} users."), plan=plan, limit=limit)


class LastOwnerError(ConflictError):
    code = "last-owner"

    def __init__(self) -> None:
        super().__init__(N_("The tenant must keep at least one active owner."))


class SelfDeactivationError(ConflictError):
    code = "self-deactivation"

    def __init__(self) -> None:
        super().__init__(N_("You cannot deactivate your own account."))


class UserInactiveError(ConflictError):
    code = "user-inactive"

    def __init__(self) -> None:
        super().__init__(N_("This user is deactivated."))


class RoleNotAllowedError(PermissionDeniedError):
    code = "role-not-allowed"

    def __init__(self) -> None:
        super().__init__(N_("Your role does not allow this change."))


# -- invitations: a token's holder learns the state of that one invitation, nothing else -------


class InvalidInvitationError(BadRequestError):
    """An unknown token, or one whose user or tenant can no longer use it: one answer for all."""

    code = "invalid-invitation"
    title = N_("Invalid invitation")

    def __init__(self) -> None:
        super().__init__(
            N_(
                "This invitation is not valid. Check that the whole link or code was copied, "
                "or ask an administrator of your organisation for a new invitation."
            )
        )


class _InvitationGoneError(ProblemError):
    """The invitation existed and can never be used again (RFC 9110: 410 Gone)."""

    status = 410


class InvitationExpiredError(_InvitationGoneError):
    code = "invitation-expired"
    title = N_("Invitation expired")

    def __init__(self) -> None:
        super().__init__(
            N_("This invitation has expired. Ask an administrator of your organisation for a new one.")
        )


class InvitationUsedError(_InvitationGoneError):
    code = "invitation-used"
    title = N_("Invitation already accepted")

    def __init__(self) -> None:
        super().__init__(
            N_("This invitation was already accepted. Sign in with your e-mail address and password.")
        )


class InvitationRevokedError(_InvitationGoneError):
    code = "invitation-revoked"
    title = N_("Invitation replaced")

    def __init__(self) -> None:
        super().__init__(
            N_("A newer invitation replaced this one. Use the link in the most recent invitation e-mail.")
        )


class UserNotInvitedError(ConflictError):
    code = "user-not-invited"

    def __init__(self) -> None:
        super().__init__(
            N_("Only a user still waiting for an invitation (status INVITED) can get a new one.")
        )
