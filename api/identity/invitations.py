"""Invitation tokens, and the identity data the UserInvitation workflow's activity reads and writes.

A token is 256 random bits, shown only in the invitation e-mail; the database keeps its SHA-256,
like a refresh token's, so a leaked table opens no account. The activity runs in the worker's
own process with its own engine (the application role), so its queries go through tables bound
to that engine, as the onboarding saga's do.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine

from api.common.tenancy import tenant_transaction
from api.identity.onboarding import bound_table
from api.identity.tables import Tenant, User, UserInvitation, UserInvitationToken

TOKEN_BYTES: Final = 32
MAX_TOKEN_LENGTH: Final = 128
"""A token is 43 characters; anything much longer is not one of ours and is refused unhashed."""

NOT_FOUND: Final = "not_found"
REVOKED: Final = "revoked"
ACCEPTED: Final = "accepted"
EXPIRED: Final = "expired"
NOT_INVITED: Final = "not_invited"


def new_invitation_token() -> tuple[str, str]:
    """The token for the e-mail and the digest for the database."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_invitation_token(token)


def hash_invitation_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def closed_reason(
    *, accepted_at: datetime | None, revoked_at: datetime | None, expires_at: datetime, now: datetime
) -> str | None:
    """Why an invitation can no longer be used, or None while it is open."""
    if accepted_at is not None:
        return ACCEPTED
    if revoked_at is not None:
        return REVOKED
    if expires_at <= now:
        return EXPIRED
    return None


@dataclass(frozen=True)
class InvitationLetter:
    """What the invitation e-mail says, read in the same transaction that stored the token."""

    tenant_id: str
    user_id: str
    invitation_id: str
    email: str
    full_name: str
    locale: str
    """The invited user's own language, else the tenant's default."""
    tenant_name: str
    tenant_slug: str
    inviter_name: str | None
    expires_at: datetime


async def issue_token(
    engine: PostgresEngine, *, tenant_id: str, invitation_id: str, token_hash: str, now: datetime
) -> InvitationLetter | str:
    """Store `token_hash` for the invitation if it is still open; the letter, or why it is closed.

    The invitation row is locked, so a token is never added to an invitation that a resend or
    an acceptance is closing at the same moment.
    """
    invitations = bound_table(engine, UserInvitation)
    tokens = bound_table(engine, UserInvitationToken)
    users = bound_table(engine, User)
    tenants = bound_table(engine, Tenant)
    async with tenant_transaction(engine, tenant_id):
        invitation: dict[str, Any] | None = (
            await invitations.select(
                invitations.user_id,
                invitations.created_by,
                invitations.expires_at,
                invitations.accepted_at,
                invitations.revoked_at,
            )
            .where(invitations.invitation_id == UUID(invitation_id))
            .lock_rows("UPDATE")
            .first()
        )
        if invitation is None:
            return NOT_FOUND
        reason = closed_reason(
            accepted_at=invitation["accepted_at"],
            revoked_at=invitation["revoked_at"],
            expires_at=invitation["expires_at"],
            now=now,
        )
        if reason is not None:
            return reason
        user: dict[str, Any] | None = (
            await users.select(users.email, users.full_name, users.locale, users.status)
            .where(users.user_id == invitation["user_id"])
            .first()
        )
        tenant: dict[str, Any] | None = (
            await tenants.select(tenants.name, tenants.slug, tenants.default_locale, tenants.status)
            .where(tenants.tenant_id == UUID(tenant_id))
            .first()
        )
        if user is None or tenant is None or user["status"] != "INVITED" or tenant["status"] != "ACTIVE":
            return NOT_INVITED
        inviter_name: str | None = None
        if invitation["created_by"] is not None:
            inviter = (
                await users.select(users.full_name).where(users.user_id == invitation["created_by"]).first()
            )
            inviter_name = None if inviter is None else str(inviter["full_name"])
        await tokens.insert(
            tokens(token_hash=token_hash, tenant_id=UUID(tenant_id), invitation_id=UUID(invitation_id))
        )
    return InvitationLetter(
        tenant_id=tenant_id,
        user_id=str(invitation["user_id"]),
        invitation_id=invitation_id,
        email=str(user["email"]),
        full_name=str(user["full_name"]),
        locale=str(user["locale"] or tenant["default_locale"]),
        tenant_name=str(tenant["name"]),
        tenant_slug=str(tenant["slug"]),
        inviter_name=inviter_name,
        expires_at=invitation["expires_at"],
    )
