"""What the catalog's route handlers receive: the runtime and the caller.

Everything long-lived (engine, storage, the Temporal gateway, the services) is built once
per app in `CatalogRuntime` and kept in ``app.state.catalog``; handlers get it through
Litestar's dependency injection, never through globals.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.di import NamedDependency, Provide

from api.catalog.indexing import IndexingGateway
from api.catalog.service import Actor, FrameworkService, PocService, TagService
from api.catalog.thumbnails import THUMBNAIL_URL_TTL_SECONDS
from api.catalog.unit_of_work import UnitOfWork, unit_of_work
from api.common.auth import TokenClaims, provide_claims
from api.common.pagination import provide_page_params
from api.common.settings import Settings
from api.common.storage import LocalBlobStorage


@dataclass
class CatalogRuntime:
    settings: Settings
    engine: Any
    storage: LocalBlobStorage
    indexing: IndexingGateway
    pocs: PocService
    tags: TagService
    frameworks: FrameworkService

    @classmethod
    def build(
        cls, settings: Settings, *, engine: Any, storage: LocalBlobStorage, indexing: IndexingGateway
    ) -> CatalogRuntime:
        return cls(
            settings=settings,
            engine=engine,
            storage=storage,
            indexing=indexing,
            pocs=PocService(storage),
            tags=TagService(),
            frameworks=FrameworkService(),
        )

    def work(self, tenant_id: UUID) -> AbstractAsyncContextManager[UnitOfWork]:
        """The request's transaction in `tenant_id`; indexing starts once it has committed."""
        return unit_of_work(self.engine, tenant_id, self.indexing)

    def sign_url(self, key: str) -> str:
        return self.storage.sign_url(key, THUMBNAIL_URL_TTL_SECONDS)


def provide_runtime(request: Request[Any, Any, Any]) -> CatalogRuntime:
    runtime: CatalogRuntime = request.app.state.catalog
    return runtime


def provide_actor(claims: NamedDependency[TokenClaims]) -> Actor:
    return Actor(user_id=claims.user_id, tenant_id=claims.tenant_id, roles=tuple(claims.roles))


DEPENDENCIES: dict[str, Provide] = {
    "catalog": Provide(provide_runtime, sync_to_thread=False),
    "claims": Provide(provide_claims, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "paging": Provide(provide_page_params, sync_to_thread=False),
}
