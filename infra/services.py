"""What `make dev` runs and how the edge reaches it: one entry per service.

Adding a service to the local platform is one `ServiceSpec` here (plus its name in
``api.common.settings.SERVICES`` and its port in ``Settings.service_ports``): the Procfile,
the Caddyfile, ``mrbill status`` and the banner are all generated from this table.

A service may run as several processes (`ServiceSpec.instances`): the first listens on its
service port, the others on ``Settings.extra_instance_ports``; each is a Procfile line of its
own (``realtime``, ``realtime-2``) and the edge spreads new connections over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.common.settings import Settings
from infra.stack import StackError

INFRA_COMPONENTS: tuple[str, ...] = ("postgres", "valkey", "temporal")
"""Started first by every entry point and awaited by every service and worker."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    app_factory: str
    """``module:function`` of the Litestar app factory, called by uvicorn with no arguments."""
    edge_paths: tuple[str, ...]
    """Caddy path matchers routed to this service (``*`` is a wildcard)."""
    task_queues: tuple[str, ...] = ()
    """Temporal task queues whose worker processes belong with this service."""
    database: bool = True
    """Whether the service owns a PostgreSQL database that `mrbill migrate` provisions."""
    instances: int = 1
    """How many processes `make dev` runs behind the edge; they share their state through Valkey."""


@dataclass(frozen=True)
class ServiceInstance:
    """One process of a service: its Procfile name (the name it answers with when scaled) and port."""

    service: str
    name: str
    """``realtime`` for the first instance, ``realtime-2`` for the second, and so on."""
    port: int
    setting: str
    """The setting that moves its port."""


SERVICE_SPECS: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            name="identity",
            app_factory="api.identity.app:create_app",
            edge_paths=(
                "/v1/auth/*",
                "/v1/signup",
                "/v1/signup/*",
                "/v1/me",
                "/v1/me/*",
                "/v1/users",
                "/v1/users/*",
                "/v1/invitations",
                "/v1/invitations/*",
                "/v1/tenants",
                "/v1/tenants/*",
                "/v1/audit-events",
                "/v1/audit-events/*",
                "/.well-known/*",
            ),
            task_queues=("identity",),
        ),
        ServiceSpec(
            name="catalog",
            app_factory="api.catalog.app:create_app",
            edge_paths=(
                "/v1/pocs",
                "/v1/pocs/*",
                "/v1/tags",
                "/v1/tags/*",
                "/v1/frameworks",
                "/v1/frameworks/*",
                "/v1/languages",
                "/v1/languages/*",
                "/v1/files/*",
            ),
        ),
        ServiceSpec(
            name="search",
            app_factory="api.search.app:create_app",
            edge_paths=("/v1/search", "/v1/search/*"),
            task_queues=("indexing",),
            # PocIndexing, reconciliation and reindex run here; the queue's activities also read
            # the catalog (as the catalog's application role), so its worker migrates both.
        ),
        ServiceSpec(
            name="content",
            app_factory="api.content.app:create_app",
            edge_paths=(
                "/v1/reports",
                "/v1/reports/*",
                "/v1/videos",
                "/v1/videos/*",
                "/v1/downloads/*",
            ),
            task_queues=("content", "video"),
            # ReportGeneration runs here; its activities also read the catalog and identity
            # (each as that service's application role).
        ),
        ServiceSpec(
            name="realtime",
            app_factory="realtime.app:create_app",
            edge_paths=("/v1/dojos", "/v1/dojos/*"),
            task_queues=("sandbox",),
            instances=2,
            # Database `dojo`. Two instances, so `make dev` runs what production does: clients of one
            # dojo on different processes, converging through Valkey. The edge passes WebSocket
            # upgrades (the dojo's code room and session channel under /v1/dojos/{id}/) through as
            # they are. SandboxRun's worker needs no database; in production it runs
            # on hosts of its own.
        ),
    )
}


def active_services(names: tuple[str, ...]) -> list[ServiceSpec]:
    """The specs of the services that exist today, in the order the settings list them."""
    return [SERVICE_SPECS[name] for name in names if name in SERVICE_SPECS]


def task_queues(names: tuple[str, ...]) -> list[str]:
    return [queue for spec in active_services(names) for queue in spec.task_queues]


def service_instances(spec: ServiceSpec, settings: Settings) -> list[ServiceInstance]:
    """Every process of a service, the first on its service port; refused if a port is missing."""
    extra = settings.extra_instance_ports.get(spec.name, ())
    if len(extra) < spec.instances - 1:
        raise StackError(
            f"{spec.name} runs {spec.instances} instances but MRBILL_EXTRA_INSTANCE_PORTS gives it "
            f"{len(extra)} extra port(s); list {spec.instances - 1} under {spec.name!r}"
        )
    first = ServiceInstance(spec.name, spec.name, settings.service_ports[spec.name], "MRBILL_SERVICE_PORTS")
    others = [
        ServiceInstance(spec.name, f"{spec.name}-{number}", port, "MRBILL_EXTRA_INSTANCE_PORTS")
        for number, port in enumerate(extra[: spec.instances - 1], start=2)
    ]
    return [first, *others]


def instance_url(settings: Settings, instance: ServiceInstance) -> str:
    return f"http://{settings.service_host}:{instance.port}"
