"""A real `mrbill dev` for end-to-end tests: every port moved to a free one, var/ in a temporary folder.

So an e2e test runs beside a developer's own `make dev` and beside the rest of the test session.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from api.common.settings import DEFAULT_EXTRA_INSTANCE_PORTS, SERVICES
from infra.dev import BANNER_TITLE
from infra.stack import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 420.0
STOP_TIMEOUT_SECONDS = 90.0


@dataclass
class DevPorts:
    pg: int = field(default_factory=free_port)
    valkey: int = field(default_factory=free_port)
    temporal: int = field(default_factory=free_port)
    temporal_ui: int = field(default_factory=free_port)
    edge: int = field(default_factory=free_port)
    services: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in SERVICES})
    extra_instances: dict[str, list[int]] = field(
        default_factory=lambda: {
            name: [free_port() for _ in ports] for name, ports in DEFAULT_EXTRA_INSTANCE_PORTS.items()
        }
    )
    """The ports of the second (third...) instance of the services `make dev` runs several of."""

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge}"

    def all(self) -> list[int]:
        extra = [port for ports in self.extra_instances.values() for port in ports]
        return [
            self.pg,
            self.valkey,
            self.temporal,
            self.temporal_ui,
            self.edge,
            *self.services.values(),
            *extra,
        ]


@contextmanager
def dev_environment(prefix: str = "mrbill-dev-e2e-") -> Iterator[tuple[dict[str, str], DevPorts]]:
    """The environment of a `mrbill dev` of its own; its var/ is removed afterwards."""
    var_dir = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    ports = DevPorts()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("MRBILL_")},
        "MRBILL_ENVIRONMENT": "dev",
        "MRBILL_VAR_DIR": str(var_dir),
        "MRBILL_PG_PORT": str(ports.pg),
        "MRBILL_VALKEY_URL": f"redis://127.0.0.1:{ports.valkey}/0",
        "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{ports.temporal}",
        "MRBILL_TEMPORAL_UI_PORT": str(ports.temporal_ui),
        "MRBILL_EDGE_PORT": str(ports.edge),
        "MRBILL_SERVICE_PORTS": json.dumps(ports.services),
        "MRBILL_EXTRA_INSTANCE_PORTS": json.dumps(ports.extra_instances),
        "MRBILL_LOG_JSON": "false",
        # Cheap hashes keep the run short; the production cost is measured in bench/.
        "MRBILL_ARGON2_TIME_COST": "1",
        "MRBILL_ARGON2_MEMORY_COST_KIB": "1024",
        "MRBILL_ARGON2_PARALLELISM": "1",
    }
    try:
        yield env, ports
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


class DevRun:
    """One `mrbill dev` process: its output, read as it comes, and its children's pids."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.banner = threading.Event()
        self._in_banner = False
        self.process = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
            [str(Path(sys.executable).parent / "mrbill"), "dev"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Ctrl-C in a terminal reaches the group, as killpg does here
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if BANNER_TITLE in line:
                self._in_banner = True
            if self._in_banner and "Ctrl-C" in line:  # the banner's last row: all of it is read
                self.banner.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def tail(self, count: int = 120) -> str:
        return "\n".join(self.lines[-count:])

    def child_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", self.output)]

    def wait_for_banner(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.banner.wait(1.0):
            if self.process.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"mrbill dev exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no banner after {START_TIMEOUT_SECONDS:.0f}s:\n{self.tail()}")

    def interrupt(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"mrbill dev did not stop within {STOP_TIMEOUT_SECONDS:.0f}s:\n{self.tail()}")
        self._reader.join(10)
        return code

    def force_stop(self) -> None:
        """Cleanup after a failed test: nothing this test started may outlive it."""
        for pid in [self.process.pid, *self.child_pids()]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
        self.process.wait(10)
