"""Worker interceptors: every activity's log lines carry its tenant, workflow and activity.

Activities take one dataclass argument; when it has a ``tenant_id`` that tenant becomes the
activity's tenant context (the same context variable the API's tenant transactions set), and
structlog's context variables carry it into every log line the activity writes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from api.common.tenancy import current_tenant_id


def _tenant_of(args: Any) -> str | None:
    for argument in args:
        tenant = getattr(argument, "tenant_id", None)
        if tenant:
            return str(tenant)
    return None


class _TenantContextActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        tenant = _tenant_of(input.args)
        log_context: dict[str, Any] = {
            "workflow_id": info.workflow_id,
            "activity": info.activity_type,
            "attempt": info.attempt,
        }
        token = None
        if tenant is not None:
            log_context["tenant_id"] = tenant
            try:
                token = current_tenant_id.set(UUID(tenant))
            except ValueError:
                token = None
        try:
            with structlog.contextvars.bound_contextvars(**log_context):
                return await super().execute_activity(input)
        finally:
            if token is not None:
                current_tenant_id.reset(token)


class TenantContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TenantContextActivityInbound(next)
