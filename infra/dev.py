"""`mrbill dev`: the whole platform in one terminal, under honcho.

honcho runs the generated Procfile (prefixed, coloured logs; one process dies and all
stop). Two things are added to it here: an ordered shutdown (services, workers and the edge
get Ctrl-C first, the data stores after them, so PostgreSQL does a fast, clean shutdown
instead of being killed under live connections), and a bring-up thread that waits for the
platform to answer, creates the SUPERADMIN and the demo tenant through the public API, and
prints the banner through honcho's printer so it lines up with the logs.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from honcho.environ import parse_procfile
from honcho.manager import Manager
from honcho.printer import Message, Printer
from rich.console import Console
from rich.table import Table

from api.common.settings import SERVICES, Settings
from infra.demo import (
    DEMO_SUPERADMIN,
    DEMO_TENANT,
    OnboardingStatus,
    SeedError,
    seed_demo,
    seed_demo_pocs,
)
from infra.edge import caddy_binary, write_caddyfile
from infra.procfile import ProcessLine, dev_lines, infra_lines, mrbill_command, write_procfile
from infra.readiness import (
    NotReadyError,
    Probe,
    probe_http,
    probe_task_queue,
    temporal_port,
    valkey_port,
    wait_until_ready,
)
from infra.services import INFRA_COMPONENTS, active_services, instance_url, service_instances
from infra.stack import StackError, port_open
from infra.status import docs_urls, edge_url, temporal_ui_url

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ANNOUNCER = "mrbill"
BANNER_TITLE = "Mr Bill is up"
APPS_STOP_SECONDS = 15.0
"""How long services, workers and the edge get to stop before the data stores are stopped."""
KILL_AFTER_SECONDS = 45.0
"""After this, whatever still runs is killed outright."""
BRING_UP_TIMEOUT_SECONDS = 600.0
"""A first start initialises PostgreSQL and Temporal and runs every migration: be patient."""


class DevPrinter(Printer):  # type: ignore[misc]
    """honcho's printer, also writing every line to var/logs/dev.log.

    If the console goes away (``make dev | tee`` and Ctrl-C kills tee first), printing must
    not raise inside honcho's loop: that would leave the data stores running unsupervised.
    The log file keeps the lines.
    """

    def __init__(self, log_path: Path) -> None:
        super().__init__(sys.stdout, colour=True, prefix=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w", encoding="utf-8", buffering=1)
        self._log_printer = Printer(self._log, colour=False, prefix=True)
        self._console_open = True

    def write(self, message: Message) -> None:
        self._log_printer.width = self.width
        data = message.data
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        try:
            self._log_printer.write(message._replace(data=ANSI_ESCAPE.sub("", data)))
        except (OSError, ValueError):
            pass
        if self._console_open:
            try:
                super().write(message)
            except (OSError, ValueError):
                self._console_open = False


class DevManager(Manager):  # type: ignore[misc]
    """honcho's Manager with an ordered shutdown: applications first, then data stores."""

    _terminating: bool

    def __init__(self, printer: Printer, stop_last: tuple[str, ...]) -> None:
        super().__init__(printer)
        self._stop_last = stop_last
        self._kill_not_before = float("inf")
        self._killed = False
        self.stop_requested = False
        """True when the stop came from Ctrl-C/SIGTERM rather than from a process dying."""

    def announce(self, text: str) -> None:
        """Print through honcho's printer, prefixed like any process's output."""
        self.events.put(
            Message(type="line", data=text, time=datetime.datetime.now(), name=ANNOUNCER, colour=None)
        )

    def terminate(self) -> None:
        if self._terminating:
            return
        self._terminating = True
        self.stop_requested = not self._any_stopped()
        self._kill_not_before = time.monotonic() + KILL_AFTER_SECONDS
        threading.Thread(target=self._stop_in_order, name="ordered-stop", daemon=True).start()

    def kill(self) -> None:
        """honcho asks for this a few seconds after the stop began; only agree past our own grace."""
        if self._killed or time.monotonic() < self._kill_not_before:
            return
        self._killed = True
        super().kill()

    def _running(self, names: list[str]) -> list[str]:
        """Not yet reported stopped by honcho, and the process still exists."""
        running = []
        for name in names:
            record = self._processes[name]
            if "returncode" in record or record.get("pid") is None:
                continue
            try:
                os.kill(record["pid"], 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass
            running.append(name)
        return running

    def stop_everything_now(self) -> None:
        """After honcho's loop failed: the same ordered stop, then kill what is left."""
        self._terminating = True
        self._stop_in_order()
        deadline = time.monotonic() + KILL_AFTER_SECONDS
        while self._running(list(self._processes)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for name in self._running(list(self._processes)):
            try:
                os.killpg(self._processes[name]["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue

    def _interrupt(self, names: list[str]) -> None:
        for name in self._running(names):
            pid = self._processes[name].get("pid")
            if pid is None:
                continue
            self._system_print(f"sending SIGINT to {name} (pid {pid})\n")
            try:
                os.killpg(pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                continue

    def _stop_in_order(self) -> None:
        everything = list(self._processes)
        apps = [name for name in everything if name not in self._stop_last]
        self._interrupt(apps)
        deadline = time.monotonic() + APPS_STOP_SECONDS
        while self._running(apps) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._interrupt([name for name in everything if name in self._stop_last])


@dataclass(frozen=True)
class PortClaim:
    owner: str
    port: int
    setting: str


def port_claims(settings: Settings, *, infra_only: bool = False) -> list[PortClaim]:
    claims = [
        PortClaim("postgres", settings.pg_port, "MRBILL_PG_PORT"),
        PortClaim("valkey", valkey_port(settings), "MRBILL_VALKEY_URL"),
        PortClaim("temporal", temporal_port(settings), "MRBILL_TEMPORAL_ADDRESS"),
        PortClaim("temporal web UI", settings.temporal_ui_port, "MRBILL_TEMPORAL_UI_PORT"),
    ]
    if infra_only:
        return claims
    claims.append(PortClaim("edge", settings.edge_port, "MRBILL_EDGE_PORT"))
    for spec in active_services(SERVICES):
        for instance in service_instances(spec, settings):
            claims.append(PortClaim(instance.name, instance.port, instance.setting))
    return claims


def check_ports_free(claims: list[PortClaim]) -> None:
    """Refuse to start half a stack beside another one (or beside anything else)."""
    busy = [claim for claim in claims if port_open(claim.port)]
    if busy:
        details = "; ".join(f"{c.owner} needs port {c.port} (set {c.setting} to move it)" for c in busy)
        raise StackError(f"ports already in use, is another `mrbill dev` running? {details}")


def child_environment(settings: Settings) -> dict[str, str]:
    """Every child sees the same settings, with var/ made absolute so their cwd never matters.

    Logs are for a person reading a terminal here, so console lines unless JSON was asked for.
    """
    environment = {**os.environ, "MRBILL_VAR_DIR": str(settings.var_dir.resolve()), "PYTHONUNBUFFERED": "1"}
    environment.setdefault("MRBILL_LOG_JSON", "false")
    return environment


def build_manager(settings: Settings, lines: list[ProcessLine]) -> DevManager:
    path = write_procfile(settings, lines)
    procfile = parse_procfile(path.read_text())
    printer = DevPrinter(settings.var_dir.resolve() / "logs" / "dev.log")
    manager = DevManager(printer, stop_last=INFRA_COMPONENTS)
    environment = child_environment(settings)
    for name, command in procfile.processes.items():
        manager.add_process(name, command, env=dict(environment))
    manager._printer.width = max(manager._printer.width, len(ANNOUNCER))
    return manager


def run_manager(manager: DevManager) -> int:
    try:
        manager.loop()
    except BaseException:
        manager.stop_everything_now()
        raise
    if manager.stop_requested and manager._all_stopped():
        return 0
    code = manager.returncode
    return int(code) if isinstance(code, int) and code != 0 else 1


def prepare_var(settings: Settings) -> None:
    var_dir = settings.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    # PostgreSQL runs as an unprivileged user when we are root: it must traverse var/.
    var_dir.chmod(0o755)


def run_stack_only(settings: Settings) -> int:
    """`mrbill stack up`: PostgreSQL, Valkey and Temporal in the foreground."""
    check_ports_free(port_claims(settings, infra_only=True))
    prepare_var(settings)
    return run_manager(build_manager(settings, infra_lines()))


def run_dev(settings: Settings) -> int:
    """`mrbill dev`: the stack, the edge, every service and worker, then the demo and a banner."""
    if not caddy_binary().exists():
        raise StackError(f"caddy is not installed at {caddy_binary()}; run `make install`")
    check_ports_free(port_claims(settings))
    prepare_var(settings)
    write_caddyfile(settings)
    manager = build_manager(settings, dev_lines(settings))
    threading.Thread(target=bring_up, args=(manager, settings), name="bring-up", daemon=True).start()
    return run_manager(manager)


def bring_up(manager: DevManager, settings: Settings) -> None:
    """Wait for the platform, seed it, print the banner; on failure say so and leave it running."""
    say = manager.announce
    time.sleep(1.0)  # let honcho fork its processes before this thread does any work
    try:
        asyncio.run(_wait_for_platform(settings, say))
        if manager._terminating:
            return
        create_demo_superadmin(settings, say)
        seed_demo_tenant(settings, say)
    except (NotReadyError, SeedError, StackError) as exc:
        if not manager._terminating:
            say(f"the platform is running but not fully set up: {exc}")
            say("fix it and run `mrbill seed-demo` / `mrbill status`, or press Ctrl-C to stop")
        return
    say(render_banner(settings, color=sys.stdout.isatty()))


def _http_probe(url: str) -> Callable[[], Awaitable[Probe]]:
    return lambda: probe_http(url)


def _queue_probe(settings: Settings, queue: str) -> Callable[[], Awaitable[Probe]]:
    return lambda: probe_task_queue(settings, queue)


async def _wait_for_platform(settings: Settings, say: Callable[[str], None]) -> None:
    base = edge_url(settings)
    probes: dict[str, Callable[[], Awaitable[Probe]]] = {"edge": _http_probe(f"{base}/health")}
    for spec in active_services(SERVICES):
        for instance in service_instances(spec, settings):
            probes[instance.name] = _http_probe(f"{instance_url(settings, instance)}/health/ready")
        for queue in spec.task_queues:
            probes[f"worker-{queue}"] = _queue_probe(settings, queue)

    def waiting(name: str, probe: Probe) -> None:
        say(f"waiting for {name} ({probe.detail})")

    await wait_until_ready(probes, BRING_UP_TIMEOUT_SECONDS, waiting, interval=1.0)
    say("every service and worker is ready")


def create_demo_superadmin(settings: Settings, say: Callable[[str], None]) -> None:
    """In its own process, so this one never holds a database engine of a service."""
    result = subprocess.run(
        [
            *mrbill_command(),
            "create-superadmin",
            "--email",
            DEMO_SUPERADMIN.email,
            "--full-name",
            DEMO_SUPERADMIN.full_name,
        ],
        env={**child_environment(settings), "MRBILL_SUPERADMIN_PASSWORD": DEMO_SUPERADMIN.password},
        capture_output=True,
        text=True,
        check=False,
    )
    for line in (result.stdout + result.stderr).strip().splitlines():
        say(line.removeprefix(f"{ANNOUNCER}: "))
    if result.returncode != 0:
        raise SeedError("creating the SUPERADMIN failed (see above)")


def seed_demo_tenant(settings: Settings, say: Callable[[str], None]) -> None:
    last_step: list[str | None] = [None]

    def progress(status: OnboardingStatus) -> None:
        step = status.current_step or status.status
        if step != last_step[0]:
            last_step[0] = step
            say(f"demo onboarding {status.percent:3d}%  {step}")

    say(f"creating the demo tenant {DEMO_TENANT.slug!r} through the edge (POST /v1/signup)")
    result = seed_demo(edge_url(settings), progress)
    if result.created:
        say(f"demo tenant {DEMO_TENANT.slug!r} created and its owner logged in")
    else:
        say(f"demo tenant {DEMO_TENANT.slug!r} already exists; its owner logged in")
    pocs = seed_demo_pocs(settings, edge_url(settings), result.access_token)
    if pocs.seeded:
        say(f"demo tenant {DEMO_TENANT.slug!r} seeded with {pocs.seeded} POCs")
    if pocs.indexed:
        say(f"{pocs.searchable} demo POCs are searchable")
    else:
        say(f"{pocs.searchable} demo POCs searchable so far; indexing goes on in the background")


def render_banner(settings: Settings, *, color: bool) -> str:
    table = Table(title=BANNER_TITLE, show_header=False, title_justify="left", expand=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Edge (all APIs)", edge_url(settings))
    for service, url in docs_urls(settings).items():
        table.add_row(f"OpenAPI: {service}", url)
    for spec in active_services(SERVICES):
        if spec.instances > 1:
            instances = service_instances(spec, settings)
            listed = ", ".join(f"{instance.name} :{instance.port}" for instance in instances)
            table.add_row(f"{spec.name} instances", f"{len(instances)} behind the edge ({listed})")
    table.add_row("Temporal Web UI", temporal_ui_url(settings))
    table.add_row("Demo tenant", DEMO_TENANT.slug)
    table.add_row("Demo owner", f"{DEMO_TENANT.admin_email} / {DEMO_TENANT.password}")
    table.add_row(
        "SUPERADMIN",
        f"{DEMO_SUPERADMIN.email} / {DEMO_SUPERADMIN.password} (tenant {DEMO_SUPERADMIN.tenant_slug})",
    )
    table.add_row("State", str(settings.var_dir.resolve()))
    table.add_row("Stop", "Ctrl-C")
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=color, no_color=not color, width=110).print(table)
    return buffer.getvalue().rstrip()
