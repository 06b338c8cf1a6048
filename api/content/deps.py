"""What content's route handlers receive: the runtime and the caller.

Everything long-lived (engine, storage, the Temporal queue, the service) is built once per app
in `ContentRuntime` and kept in ``app.state.content``; handlers get it through Litestar's
dependency injection, never through globals.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.di import NamedDependency, Provide

from api.common.auth import TokenClaims, provide_claims
from api.common.pagination import provide_page_params
from api.common.settings import Settings
from api.common.storage import LocalBlobStorage
from api.content.queue import ContentQueue
from api.content.service import Actor, RecapService, ReportService, VideoService
from api.content.unit_of_work import UnitOfWork, unit_of_work


@dataclass
class ContentRuntime:
    settings: Settings
    engine: Any
    storage: LocalBlobStorage
    queue: ContentQueue
    reports: ReportService
    videos: VideoService
    recaps: RecapService

    @classmethod
    def build(
        cls, settings: Settings, *, engine: Any, storage: LocalBlobStorage, queue: ContentQueue
    ) -> ContentRuntime:
        def work(tenant_id: UUID) -> AbstractAsyncContextManager[UnitOfWork]:
            return unit_of_work(engine, tenant_id)

        return cls(
            settings=settings,
            engine=engine,
            storage=storage,
            queue=queue,
            reports=ReportService(settings, work, queue, storage),
            videos=VideoService(settings, work, queue, storage),
            recaps=RecapService(queue),
        )

    def work(self, tenant_id: UUID) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction in `tenant_id` (tests use it to read and write as the application role)."""
        return unit_of_work(self.engine, tenant_id)


def provide_runtime(request: Request[Any, Any, Any]) -> ContentRuntime:
    runtime: ContentRuntime = request.app.state.content
    return runtime


def provide_actor(claims: NamedDependency[TokenClaims]) -> Actor:
    return Actor(
        user_id=claims.user_id, tenant_id=claims.tenant_id, roles=tuple(claims.roles), plan=claims.plan
    )


DEPENDENCIES: dict[str, Provide] = {
    "content": Provide(provide_runtime, sync_to_thread=False),
    "claims": Provide(provide_claims, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "paging": Provide(provide_page_params, sync_to_thread=False),
}
