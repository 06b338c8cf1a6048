"""Who may call which route; finer rules (an ADMIN never touches an OWNER) live in the service."""

from __future__ import annotations

from litestar.types import Guard

from api.common.auth import requires_roles

managers_only: Guard = requires_roles("OWNER", "ADMIN")
"""OWNERs and ADMINs of the tenant (and the platform's SUPERADMIN, as the kernel lets it pass)."""

superadmin_only: Guard = requires_roles("SUPERADMIN")
