"""What search's route handlers receive: one runtime per app, built in the app factory.

The engine (and its connection pool or HTTP client), the services and the Temporal gateway
live in ``app.state.search``; handlers get them through Litestar's dependency injection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from api.common.auth import TokenClaims, provide_claims
from api.common.pagination import PageParams, provide_page_params
from api.common.settings import Settings
from api.search.dojos import DojoSearchService
from api.search.engine import SearchEngine
from api.search.service import SearchIndexManager, SearchService, TemporalGateway


@dataclass
class SearchRuntime:
    settings: Settings
    engine: SearchEngine
    search: SearchService
    indices: SearchIndexManager
    dojos: DojoSearchService

    @classmethod
    def build(cls, settings: Settings, engine: SearchEngine, temporal: TemporalGateway) -> SearchRuntime:
        return cls(
            settings=settings,
            engine=engine,
            search=SearchService(engine),
            indices=SearchIndexManager(engine, temporal),
            dojos=DojoSearchService(engine.dojos),
        )


def provide_runtime(request: Request[Any, Any, Any]) -> SearchRuntime:
    runtime: SearchRuntime = request.app.state.search
    return runtime


DEPENDENCIES: dict[str, Provide] = {
    "search": Provide(provide_runtime, sync_to_thread=False),
    "claims": Provide(provide_claims, sync_to_thread=False),
    "paging": Provide(provide_page_params, sync_to_thread=False),
}

Search = NamedDependency[SearchRuntime]
Claims = NamedDependency[TokenClaims]
Paging = NamedDependency[PageParams]

Values = Annotated[list[str] | None, QueryParameter(description="Repeat the parameter for several values.")]
INSTANT = "Date (UTC day) or ISO 8601 instant, inclusive."
