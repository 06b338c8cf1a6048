"""The Litestar application factory every service uses, so all of them behave the same at the edges.

A service hands over its routes and checks; the factory adds problem+json errors, JSON logs
with request and trace ids, Prometheus metrics, locale negotiation, token authentication,
``/health/live``, ``/health/ready``, ``/metrics`` and the OpenAPI document at ``/schema``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import MappingProxyType
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.types import ControllerRouterHandler, LifespanHook

from api.common.auth import (
    AccessDenylist,
    JWTAuthenticationMiddleware,
    KeySetProvider,
    VerifiedTokenCache,
    build_key_set_provider,
)
from api.common.errors import problem_exception_handlers
from api.common.health import DEFAULT_CHECK_TIMEOUT_SECONDS, ReadinessCheck, liveness, readiness
from api.common.i18n import LocaleMiddleware
from api.common.logging import RequestLoggingMiddleware, configure_logging
from api.common.metrics import MetricsMiddleware, ServiceMetrics, metrics_endpoint
from api.common.settings import Settings

__all__ = ["build_key_set_provider", "create_service_app"]

BEARER_SECURITY_SCHEME = "BearerToken"
OPENAPI_PATH = "/schema"
SWAGGER_PATH = "/swagger"

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[Any]] | AbstractAsyncContextManager[Any]
_NO_CHECKS: Mapping[str, ReadinessCheck] = MappingProxyType({})
_NO_DEPENDENCIES: Mapping[str, Provide | Callable[..., Any]] = MappingProxyType({})


def _openapi_config(service: str, version: str, description: str, *, authenticated: bool) -> OpenAPIConfig:
    return OpenAPIConfig(
        title=f"Mr Bill {service} API",
        version=version,
        description=description or None,
        path=OPENAPI_PATH,
        render_plugins=[SwaggerRenderPlugin(path=SWAGGER_PATH)],
        components=Components(
            security_schemes={
                BEARER_SECURITY_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="Access token from identity's POST /v1/auth/login (Ed25519, 15 minutes).",
                )
            }
        ),
        security=[{BEARER_SECURITY_SCHEME: []}] if authenticated else None,
        tags=[Tag(name="ops", description="Probes and metrics for operators; no token needed.")],
    )


def create_service_app(
    *,
    service: str,
    settings: Settings,
    route_handlers: Sequence[ControllerRouterHandler],
    readiness_checks: Mapping[str, ReadinessCheck] = _NO_CHECKS,
    key_set: KeySetProvider | None = None,
    denylist: AccessDenylist | None = None,
    on_startup: Sequence[LifespanHook] = (),
    on_shutdown: Sequence[LifespanHook] = (),
    lifespan: Sequence[Lifespan] = (),
    dependencies: Mapping[str, Provide | Callable[..., Any]] = _NO_DEPENDENCIES,
    version: str = "1.0.0",
    description: str = "",
    readiness_timeout: float = DEFAULT_CHECK_TIMEOUT_SECONDS,
) -> Litestar:
    """A service's Litestar app; every route needs a token unless ``opt={"public": True}``.

    Without `key_set` no authentication runs (a service with only public routes, tests).
    """
    configure_logging(settings, service)
    metrics = ServiceMetrics(service)
    middleware: list[DefineMiddleware] = []
    if key_set is not None:
        middleware.append(
            DefineMiddleware(
                JWTAuthenticationMiddleware,
                key_set=key_set,
                settings=settings,
                denylist=denylist,
                verified_tokens=VerifiedTokenCache(),
            )
        )
    app = Litestar(
        route_handlers=[*route_handlers, liveness, readiness, metrics_endpoint],
        exception_handlers=problem_exception_handlers(),
        middleware=middleware,
        dependencies=dict(dependencies),
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
        lifespan=list(lifespan),
        openapi_config=_openapi_config(service, version, description, authenticated=key_set is not None),
        state=State(
            {
                "settings": settings,
                "service": service,
                "metrics": metrics,
                "readiness_checks": dict(readiness_checks),
                "readiness_timeout": readiness_timeout,
            }
        ),
        logging_config=None,
    )
    # Wrap the whole ASGI handler (not each route) so unknown paths, failed authentication and
    # every other early answer are logged, counted and localised too.
    app.asgi_handler = RequestLoggingMiddleware(
        MetricsMiddleware(LocaleMiddleware(app.asgi_handler, settings.default_locale), metrics)
    )
    return app
