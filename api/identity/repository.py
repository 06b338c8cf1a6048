"""Every query of the identity service, through its Piccolo tables.

Functions run inside the caller's `tenant_transaction` or `platform_transaction`; row-level
security decides what they can see, and the explicit tenant filters below only make the
intent readable (and use the indexes). Nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.custom_types import Combinable

from api.identity.tables import RefreshToken, Session, Tenant, User, UserInvitation, UserInvitationToken


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: UUID
    name: str
    slug: str
    domain: str
    plan: str
    status: str
    default_locale: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class UserRecord:
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
    password_changed_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    session_id: UUID
    tenant_id: UUID
    user_id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    user_agent: str | None
    ip_address: str | None


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_id: UUID
    tenant_id: UUID
    session_id: UUID
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None
    replaced_by: UUID | None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value) if isinstance(value, Mapping) else {}


# -- tenants ---------------------------------------------------------------------------------

_TENANT_COLUMNS = (
    Tenant.tenant_id,
    Tenant.name,
    Tenant.slug,
    Tenant.domain,
    Tenant.subscription_plan,
    Tenant.status,
    Tenant.default_locale,
    Tenant.settings,
    Tenant.created_at,
    Tenant.updated_at,
)


def _tenant(row: Mapping[str, Any]) -> TenantRecord:
    return TenantRecord(
        tenant_id=row["tenant_id"],
        name=row["name"],
        slug=row["slug"],
        domain=row["domain"],
        plan=row["subscription_plan"],
        status=row["status"],
        default_locale=row["default_locale"],
        settings=_json_object(row["settings"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get_tenant(tenant_id: UUID, *, for_update: bool = False) -> TenantRecord | None:
    select = Tenant.select(*_TENANT_COLUMNS).where(Tenant.tenant_id == tenant_id)
    if for_update:
        select = select.lock_rows("UPDATE")
    row = await select.first()
    return None if row is None else _tenant(row)


async def find_tenant_by_slug(slug: str) -> TenantRecord | None:
    row = await Tenant.select(*_TENANT_COLUMNS).where(Tenant.slug == slug).first()
    return None if row is None else _tenant(row)


async def tenant_slug_or_domain_taken(slug: str, domain: str) -> bool:
    return bool(await Tenant.exists().where((Tenant.slug == slug) | (Tenant.domain == domain)))


async def insert_tenant(
    *,
    tenant_id: UUID,
    name: str,
    slug: str,
    domain: str,
    plan: str,
    status: str,
    default_locale: str,
    settings: Mapping[str, Any],
) -> TenantRecord:
    await Tenant.insert(
        Tenant(
            tenant_id=tenant_id,
            name=name,
            slug=slug,
            domain=domain,
            subscription_plan=plan,
            status=status,
            default_locale=default_locale,
            settings=json.dumps(dict(settings)),
        )
    )
    created = await get_tenant(tenant_id)
    if created is None:
        raise LookupError(f"tenant {tenant_id} vanished right after its insert")
    return created


async def update_tenant(tenant_id: UUID, changes: Mapping[str, Any], now: datetime) -> TenantRecord | None:
    """`changes` maps record field names (``plan``, ``settings`` ...) to new values."""
    columns: dict[Any, Any] = {Tenant.updated_at: now}
    for field, value in changes.items():
        if field == "plan":
            columns[Tenant.subscription_plan] = value
        elif field == "settings":
            columns[Tenant.settings] = json.dumps(dict(value))
        else:
            columns[getattr(Tenant, field)] = value
    updated = await Tenant.update(columns).where(Tenant.tenant_id == tenant_id).returning(Tenant.tenant_id)
    return await get_tenant(tenant_id) if updated else None


async def list_tenants(
    *, status: str | None, plan: str | None, query: str | None, offset: int, limit: int
) -> tuple[list[TenantRecord], int]:
    condition: Any = None

    def both(extra: Any) -> Any:
        return extra if condition is None else condition & extra

    if status is not None:
        condition = both(Tenant.status == status)
    if plan is not None:
        condition = both(Tenant.subscription_plan == plan)
    if query:
        pattern = _like_pattern(query)
        condition = both(Tenant.name.ilike(pattern) | Tenant.slug.ilike(pattern))
    select = Tenant.select(*_TENANT_COLUMNS).order_by(Tenant.created_at, ascending=False)
    select = select.order_by(Tenant.tenant_id)
    count = Tenant.count()
    if condition is not None:
        select = select.where(condition)
        count = count.where(condition)
    rows = await select.offset(offset).limit(limit)
    return [_tenant(row) for row in rows], int(await count)


# -- users -------------------------------------------------------------------------------------

_USER_COLUMNS = (
    User.user_id,
    User.tenant_id,
    User.email,
    User.full_name,
    User.role,
    User.locale,
    User.status,
    User.created_at,
    User.updated_at,
    User.last_login_at,
    User.password_changed_at,
)


def _user(row: Mapping[str, Any]) -> UserRecord:
    return UserRecord(
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        full_name=row["full_name"],
        role=row["role"],
        locale=row["locale"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login_at=row["last_login_at"],
        password_changed_at=row["password_changed_at"],
    )


async def get_user(tenant_id: UUID, user_id: UUID, *, for_update: bool = False) -> UserRecord | None:
    select = User.select(*_USER_COLUMNS).where((User.tenant_id == tenant_id) & (User.user_id == user_id))
    if for_update:
        select = select.lock_rows("UPDATE")
    row = await select.first()
    return None if row is None else _user(row)


_USER_IN_TENANT_SQL = (
    "SELECT scoped.* FROM (SELECT set_config('app.tenant_id', $1::text, true) AS tenant) AS scope,"
    " LATERAL (SELECT user_id, tenant_id, email, full_name, role, locale, status, created_at,"
    " updated_at, last_login_at, password_changed_at FROM users"
    " WHERE users.tenant_id = $1::uuid AND users.user_id = $2 AND scope.tenant IS NOT NULL"
    " OFFSET 0) AS scoped"
)
"""Tenant context and read in one statement, so one round trip instead of four.

``set_config(..., true)`` lasts until the end of the statement's own implicit transaction,
so a pooled connection never keeps the tenant. The users scan sits in a LATERAL subquery
that PostgreSQL may not flatten (``OFFSET 0``) and that depends on the ``set_config``
result, so it can only run after the tenant is set: row-level security filters it like any
other read. Evaluated in the wrong order it would still fail closed (no tenant, no rows).
"""


async def read_user_in_tenant(tenant_id: UUID, user_id: UUID) -> UserRecord | None:
    """`get_user` for a caller with no transaction of its own: the hot ``GET /v1/me`` read.

    It takes a connection straight from the users table's engine pool: building and running
    the query through Piccolo cost about twice the CPU of the asyncpg call itself.
    """
    engine: Any = User._meta.db
    pool = engine.pool
    if pool is None:
        connection = await engine.get_new_connection()
        try:
            row = await connection.fetchrow(_USER_IN_TENANT_SQL, str(tenant_id), user_id)
        finally:
            await connection.close()
    else:
        async with pool.acquire() as connection:
            row = await connection.fetchrow(_USER_IN_TENANT_SQL, str(tenant_id), user_id)
    return None if row is None else _user(row)


async def find_user_with_hash(tenant_id: UUID, email: str) -> tuple[UserRecord, str] | None:
    """E-mail comparison is case-insensitive: the column is CITEXT."""
    row = (
        await User.select(*_USER_COLUMNS, User.password_hash)
        .where((User.tenant_id == tenant_id) & (User.email == email))
        .first()
    )
    return None if row is None else (_user(row), row["password_hash"])


async def get_password_hash(tenant_id: UUID, user_id: UUID) -> str | None:
    row = (
        await User.select(User.password_hash)
        .where((User.tenant_id == tenant_id) & (User.user_id == user_id))
        .first()
    )
    return None if row is None else str(row["password_hash"])


async def email_taken(tenant_id: UUID, email: str) -> bool:
    return bool(await User.exists().where((User.tenant_id == tenant_id) & (User.email == email)))


async def insert_user(
    *,
    user_id: UUID,
    tenant_id: UUID,
    email: str,
    password_hash: str,
    full_name: str,
    role: str,
    locale: str | None,
    status: str,
) -> UserRecord:
    await User.insert(
        User(
            user_id=user_id,
            tenant_id=tenant_id,
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            role=role,
            locale=locale,
            status=status,
        )
    )
    created = await get_user(tenant_id, user_id)
    if created is None:
        raise LookupError(f"user {user_id} vanished right after its insert")
    return created


async def update_user(
    tenant_id: UUID, user_id: UUID, changes: Mapping[str, Any], now: datetime
) -> UserRecord | None:
    columns: dict[Any, Any] = {User.updated_at: now}
    for field, value in changes.items():
        columns[getattr(User, field)] = value
    updated = (
        await User.update(columns)
        .where((User.tenant_id == tenant_id) & (User.user_id == user_id))
        .returning(User.user_id)
    )
    return await get_user(tenant_id, user_id) if updated else None


async def count_users(tenant_id: UUID, *, statuses: Sequence[str], role: str | None = None) -> int:
    condition: Combinable = (User.tenant_id == tenant_id) & User.status.is_in(list(statuses))
    if role is not None:
        condition = condition & (User.role == role)
    return int(await User.count().where(condition))


async def list_users(
    tenant_id: UUID,
    *,
    role: str | None,
    status: str | None,
    query: str | None,
    offset: int,
    limit: int,
) -> tuple[list[UserRecord], int]:
    condition: Combinable = User.tenant_id == tenant_id
    if role is not None:
        condition = condition & (User.role == role)
    if status is not None:
        condition = condition & (User.status == status)
    if query:
        pattern = _like_pattern(query)
        condition = condition & (User.email.ilike(pattern) | User.full_name.ilike(pattern))
    rows = (
        await User.select(*_USER_COLUMNS)
        .where(condition)
        .order_by(User.created_at)
        .order_by(User.user_id)
        .offset(offset)
        .limit(limit)
    )
    total = await User.count().where(condition)
    return [_user(row) for row in rows], int(total)


# -- sessions and refresh tokens ---------------------------------------------------------------

_SESSION_COLUMNS = (
    Session.session_id,
    Session.tenant_id,
    Session.user_id,
    Session.created_at,
    Session.last_used_at,
    Session.expires_at,
    Session.revoked_at,
    Session.revoked_reason,
    Session.user_agent,
    Session.ip_address,
)


def _session(row: Mapping[str, Any]) -> SessionRecord:
    return SessionRecord(**{column: row[column] for column in SessionRecord.__dataclass_fields__})


async def insert_session(
    *,
    session_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    expires_at: datetime,
    user_agent: str | None,
    ip_address: str | None,
) -> None:
    await Session.insert(
        Session(
            session_id=session_id,
            tenant_id=tenant_id,
            user_id=user_id,
            expires_at=expires_at,
            user_agent=None if user_agent is None else user_agent[:255],
            ip_address=None if ip_address is None else ip_address[:64],
        )
    )


async def get_session(tenant_id: UUID, session_id: UUID, *, for_update: bool = False) -> SessionRecord | None:
    select = Session.select(*_SESSION_COLUMNS).where(
        (Session.tenant_id == tenant_id) & (Session.session_id == session_id)
    )
    if for_update:
        select = select.lock_rows("UPDATE")
    row = await select.first()
    return None if row is None else _session(row)


async def list_active_sessions(tenant_id: UUID, user_id: UUID, now: datetime) -> list[SessionRecord]:
    rows = (
        await Session.select(*_SESSION_COLUMNS)
        .where(
            (Session.tenant_id == tenant_id)
            & (Session.user_id == user_id)
            & Session.revoked_at.is_null()
            & (Session.expires_at > now)
        )
        .order_by(Session.last_used_at, ascending=False)
    )
    return [_session(row) for row in rows]


async def touch_session(tenant_id: UUID, session_id: UUID, now: datetime) -> None:
    await Session.update({Session.last_used_at: now}).where(
        (Session.tenant_id == tenant_id) & (Session.session_id == session_id)
    )


async def revoke_sessions(
    tenant_id: UUID,
    *,
    user_id: UUID,
    reason: str,
    now: datetime,
    only: UUID | None = None,
    keep: UUID | None = None,
) -> list[UUID]:
    """Revoke the user's live sessions (one of them, or all but one); returns their ids."""
    condition = (Session.tenant_id == tenant_id) & (Session.user_id == user_id) & Session.revoked_at.is_null()
    if only is not None:
        condition = condition & (Session.session_id == only)
    if keep is not None:
        condition = condition & (Session.session_id != keep)
    rows = (
        await Session.update({Session.revoked_at: now, Session.revoked_reason: reason})
        .where(condition)
        .returning(Session.session_id)
    )
    return [row["session_id"] for row in rows]


async def revoke_tenant_sessions(tenant_id: UUID, *, reason: str, now: datetime) -> list[UUID]:
    rows = (
        await Session.update({Session.revoked_at: now, Session.revoked_reason: reason})
        .where((Session.tenant_id == tenant_id) & Session.revoked_at.is_null())
        .returning(Session.session_id)
    )
    return [row["session_id"] for row in rows]


async def find_refresh_token_tenant(token_hash: str) -> UUID | None:
    """Platform scope: a refresh token is opaque, so its tenant is found from its digest."""
    row = (
        await RefreshToken.select(RefreshToken.tenant_id).where(RefreshToken.token_hash == token_hash).first()
    )
    return None if row is None else row["tenant_id"]


async def lock_refresh_token(tenant_id: UUID, token_hash: str) -> RefreshTokenRecord | None:
    """Row lock: two racing refreshes of one token take turns, the second sees the first's rotation."""
    row = (
        await RefreshToken.select(
            RefreshToken.token_id,
            RefreshToken.tenant_id,
            RefreshToken.session_id,
            RefreshToken.created_at,
            RefreshToken.expires_at,
            RefreshToken.rotated_at,
            RefreshToken.replaced_by,
        )
        .where((RefreshToken.tenant_id == tenant_id) & (RefreshToken.token_hash == token_hash))
        .lock_rows("UPDATE")
        .first()
    )
    return None if row is None else RefreshTokenRecord(**row)


async def insert_refresh_token(
    *, token_id: UUID, tenant_id: UUID, session_id: UUID, token_hash: str, expires_at: datetime
) -> None:
    await RefreshToken.insert(
        RefreshToken(
            token_id=token_id,
            tenant_id=tenant_id,
            session_id=session_id,
            token_hash=token_hash,
            expires_at=expires_at,
        )
    )


async def mark_refresh_token_rotated(
    tenant_id: UUID, token_id: UUID, *, now: datetime, replaced_by: UUID
) -> None:
    await RefreshToken.update({RefreshToken.rotated_at: now, RefreshToken.replaced_by: replaced_by}).where(
        (RefreshToken.tenant_id == tenant_id) & (RefreshToken.token_id == token_id)
    )


# -- invitations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationRecord:
    invitation_id: UUID
    tenant_id: UUID
    user_id: UUID
    created_by: UUID | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None


_INVITATION_COLUMNS = (
    UserInvitation.invitation_id,
    UserInvitation.tenant_id,
    UserInvitation.user_id,
    UserInvitation.created_by,
    UserInvitation.created_at,
    UserInvitation.expires_at,
    UserInvitation.accepted_at,
    UserInvitation.revoked_at,
    UserInvitation.revoked_reason,
)


def _invitation(row: Mapping[str, Any]) -> InvitationRecord:
    return InvitationRecord(**{column: row[column] for column in InvitationRecord.__dataclass_fields__})


async def get_invitation(
    tenant_id: UUID, invitation_id: UUID, *, for_update: bool = False
) -> InvitationRecord | None:
    select = UserInvitation.select(*_INVITATION_COLUMNS).where(
        (UserInvitation.tenant_id == tenant_id) & (UserInvitation.invitation_id == invitation_id)
    )
    if for_update:
        select = select.lock_rows("UPDATE")
    row = await select.first()
    return None if row is None else _invitation(row)


async def insert_invitation(
    *,
    invitation_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    created_by: UUID | None,
    created_at: datetime,
    expires_at: datetime,
) -> InvitationRecord:
    await UserInvitation.insert(
        UserInvitation(
            invitation_id=invitation_id,
            tenant_id=tenant_id,
            user_id=user_id,
            created_by=created_by,
            created_at=created_at,
            expires_at=expires_at,
        )
    )
    created = await get_invitation(tenant_id, invitation_id)
    if created is None:
        raise LookupError(f"invitation {invitation_id} vanished right after its insert")
    return created


async def revoke_open_invitations(
    tenant_id: UUID, user_id: UUID, *, reason: str, now: datetime
) -> list[UUID]:
    """Close the user's invitations that are neither accepted nor revoked; returns their ids."""
    rows = (
        await UserInvitation.update({UserInvitation.revoked_at: now, UserInvitation.revoked_reason: reason})
        .where(
            (UserInvitation.tenant_id == tenant_id)
            & (UserInvitation.user_id == user_id)
            & UserInvitation.accepted_at.is_null()
            & UserInvitation.revoked_at.is_null()
        )
        .returning(UserInvitation.invitation_id)
    )
    return [row["invitation_id"] for row in rows]


async def mark_invitation_accepted(tenant_id: UUID, invitation_id: UUID, now: datetime) -> None:
    await UserInvitation.update({UserInvitation.accepted_at: now}).where(
        (UserInvitation.tenant_id == tenant_id) & (UserInvitation.invitation_id == invitation_id)
    )


async def find_invitation_token(token_hash: str) -> tuple[UUID, UUID] | None:
    """Platform scope: an invitation token is opaque, so its tenant and invitation come from its digest."""
    row = (
        await UserInvitationToken.select(UserInvitationToken.tenant_id, UserInvitationToken.invitation_id)
        .where(UserInvitationToken.token_hash == token_hash)
        .first()
    )
    return None if row is None else (row["tenant_id"], row["invitation_id"])
