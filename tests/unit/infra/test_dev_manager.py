"""The ordered stop of `mrbill dev`, with real processes standing in for the real ones."""

from __future__ import annotations

import io
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from honcho.printer import Printer

from infra.dev import DevManager, run_manager

pytestmark = pytest.mark.unit

STAND_IN = """
import signal, sys, time
name, record, stop_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
def stop(signum, frame):
    time.sleep(stop_seconds)
    with open(record, "a") as out:
        out.write(f"{name} {time.monotonic()}\\n")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
print(f"{name} ready", flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def restore_signal_handlers() -> Iterator[None]:
    """honcho installs its own SIGINT/SIGTERM handlers in the main thread; put pytest's back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _command(script: Path, name: str, record: Path, stop_seconds: float) -> str:
    return f"exec {sys.executable} {script} {name} {record} {stop_seconds}"


def _stop_later(manager: DevManager, seconds: float) -> None:
    def stop() -> None:
        time.sleep(seconds)
        manager.terminate()

    threading.Thread(target=stop, daemon=True).start()


@pytest.mark.usefixtures("restore_signal_handlers")
def test_applications_stop_before_the_data_stores(tmp_path: Path) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    record = tmp_path / "stopped.txt"
    output = io.StringIO()
    manager = DevManager(Printer(output), stop_last=("store",))
    manager.add_process("store", _command(script, "store", record, 0.0))
    manager.add_process("app", _command(script, "app", record, 0.7))
    manager.add_process("worker", _command(script, "worker", record, 0.2))
    _stop_later(manager, 2.0)

    assert run_manager(manager) == 0

    stopped = dict(line.split() for line in record.read_text().splitlines())
    assert set(stopped) == {"store", "app", "worker"}
    assert float(stopped["store"]) > max(float(stopped["app"]), float(stopped["worker"]))
    log = output.getvalue()
    assert "sending SIGINT to app" in log
    # honcho prints "app stopped" from its own loop, possibly after the next SIGINT line: the
    # stop times recorded by the processes themselves (above) are the real order.
    assert log.index("sending SIGINT to store") > log.index("sending SIGINT to app")
    assert "SIGKILL" not in log


@pytest.mark.usefixtures("restore_signal_handlers")
def test_a_process_that_dies_stops_everything_and_fails_the_run(tmp_path: Path) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    record = tmp_path / "stopped.txt"
    output = io.StringIO()
    manager = DevManager(Printer(output), stop_last=("store",))
    manager.add_process("store", _command(script, "store", record, 0.0))
    manager.add_process("crasher", "sleep 1; echo boom; exit 3")

    assert run_manager(manager) == 3
    assert "store" in record.read_text()
    assert "crasher stopped (rc=3)" in output.getvalue()


@pytest.mark.usefixtures("restore_signal_handlers")
def test_announcements_are_prefixed_like_process_output(tmp_path: Path) -> None:
    output = io.StringIO()
    manager = DevManager(Printer(output), stop_last=())
    manager.add_process("quick", "sleep 0.5")
    manager.announce("hello from mrbill")
    run_manager(manager)
    assert any(
        line.split(" ", 1)[1].startswith("mrbill") and line.endswith("| hello from mrbill")
        for line in output.getvalue().splitlines()
    )
