"""Who may call the dojo API at all; who may change a given dojo is decided by the service."""

from __future__ import annotations

from litestar.types import Guard

from api.common.auth import requires_roles

tenant_members: Guard = requires_roles("OWNER", "ADMIN", "MEMBER")
"""Any user of a tenant (and the platform's SUPERADMIN, as the kernel lets it pass)."""
