"""Piccolo tables of the identity database; the schema itself is in piccolo_migrations/.

Every table has forced row-level security, so queries must run inside
`api.common.tenancy.tenant_transaction` (or `platform_transaction` for SUPERADMIN work).
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    BigSerial,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Tenant(Table, tablename="tenants"):
    tenant_id = UUID(primary_key=True)
    name = Varchar(length=100)
    slug = Varchar(length=63, unique=True)
    domain = Varchar(length=255, unique=True)
    subscription_plan = Varchar(length=50, default="FREE")
    status = Varchar(length=20, default="PENDING")
    default_locale = Varchar(length=10, default="pt_BR")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    settings = JSONB(default="{}")


class User(Table, tablename="users"):
    user_id = UUID(primary_key=True)
    tenant_id = UUID()
    email = Varchar(length=255)
    password_hash = Varchar(length=255, secret=True)
    full_name = Varchar(length=100)
    role = Varchar(length=20, default="MEMBER")
    locale = Varchar(length=10, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    last_login_at = Timestamptz(null=True, default=None)
    password_changed_at = Timestamptz(default=TimestamptzNow())
    status = Varchar(length=20, default="ACTIVE")


class Session(Table, tablename="sessions"):
    """A refresh-token family: one login on one device."""

    session_id = UUID(primary_key=True)
    tenant_id = UUID()
    user_id = UUID()
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    revoked_reason = Varchar(length=40, null=True, default=None)
    user_agent = Varchar(length=255, null=True, default=None)
    ip_address = Varchar(length=64, null=True, default=None)


class RefreshToken(Table, tablename="refresh_tokens"):
    token_id = UUID(primary_key=True)
    tenant_id = UUID()
    session_id = UUID()
    token_hash = Varchar(length=64, unique=True, secret=True)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    rotated_at = Timestamptz(null=True, default=None)
    replaced_by = UUID(null=True, default=None)


class AuditLog(Table, tablename="audit_log"):
    audit_id = BigSerial(primary_key=True)
    tenant_id = UUID()
    actor_user_id = UUID(null=True, default=None)
    action = Varchar(length=50)
    target = Varchar(length=255, null=True, default=None)
    ip_address = Varchar(length=64, null=True, default=None)
    details = JSONB(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())


class UserInvitation(Table, tablename="user_invitations"):
    """An invitation to set a password; open until accepted, revoked or past ``expires_at``."""

    invitation_id = UUID(primary_key=True)
    tenant_id = UUID()
    user_id = UUID()
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    revoked_reason = Varchar(length=40, null=True, default=None)


class UserInvitationToken(Table, tablename="user_invitation_tokens"):
    """The digest of a token issued for an invitation; the token itself is only in the e-mail."""

    token_hash = Varchar(length=64, primary_key=True, secret=True)
    tenant_id = UUID()
    invitation_id = UUID()
    created_at = Timestamptz(default=TimestamptzNow())


IDENTITY_TABLES: tuple[type[Table], ...] = (
    Tenant,
    User,
    Session,
    RefreshToken,
    AuditLog,
    UserInvitation,
    UserInvitationToken,
)
