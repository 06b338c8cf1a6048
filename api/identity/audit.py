"""The per-tenant audit log: who did what to whom, from where.

`record` writes inside the caller's transaction, so an audited change and its audit row
commit or vanish together.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.custom_types import Combinable

from api.identity.tables import AuditLog


class AuditAction(enum.StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOCKOUT = "lockout"
    REFRESH_REUSE = "refresh_reuse"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an action name, not a secret
    ROLE_CHANGED = "role_changed"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    USER_DEACTIVATED = "user_deactivated"
    SESSION_REVOKED = "session_revoked"
    TENANT_CREATED = "tenant_created"
    TENANT_UPDATED = "tenant_updated"
    TENANT_DEACTIVATED = "tenant_deactivated"
    INVITATION_CREATED = "invitation_created"
    INVITATION_ACCEPTED = "invitation_accepted"


@dataclass(frozen=True)
class AuditEvent:
    audit_id: int
    tenant_id: UUID
    actor_user_id: UUID | None
    action: str
    target: str | None
    ip_address: str | None
    details: dict[str, Any]
    created_at: datetime


async def record(
    action: AuditAction,
    tenant_id: UUID,
    *,
    actor: UUID | None = None,
    target: str | UUID | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await AuditLog.insert(
        AuditLog(
            tenant_id=tenant_id,
            actor_user_id=actor,
            action=action.value,
            target=None if target is None else str(target)[:255],
            ip_address=None if ip is None else ip[:64],
            details=json.dumps(details or {}, default=str),
        )
    )


async def list_events(
    tenant_id: UUID, *, action: str | None, offset: int, limit: int
) -> tuple[list[AuditEvent], int]:
    """Newest first; the tenant filter is explicit even though row-level security enforces it."""
    condition: Combinable = AuditLog.tenant_id == tenant_id
    if action is not None:
        condition = condition & (AuditLog.action == action)
    rows = (
        await AuditLog.select()
        .where(condition)
        .order_by(AuditLog.created_at, ascending=False)
        .order_by(AuditLog.audit_id, ascending=False)
        .offset(offset)
        .limit(limit)
        .output(load_json=True)
    )
    total = await AuditLog.count().where(condition)
    events = [
        AuditEvent(
            audit_id=row["audit_id"],
            tenant_id=row["tenant_id"],
            actor_user_id=row["actor_user_id"],
            action=row["action"],
            target=row["target"],
            ip_address=row["ip_address"],
            details=row["details"] or {},
            created_at=row["created_at"],
        )
        for row in rows
    ]
    return events, int(total)
