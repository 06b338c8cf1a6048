"""The bubblewrap command: what a run can see, who it runs as, and which limits bind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime.sandbox.languages import BUILD_DIR
from realtime.sandbox.limits import MIB, RUN_LIMITS, Limits
from realtime.sandbox.runner import (
    SANDBOX_ENV,
    SandboxCommand,
    SandboxTools,
    build_command,
)
from realtime.sandbox.slots import Slot

pytestmark = pytest.mark.unit

TOOLS = SandboxTools(
    bwrap="/opt/bwrap",
    setpriv="/usr/bin/setpriv",
    prlimit="/usr/bin/prlimit",
    root_links=(("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", None)),
)
SLOT = Slot(index=2, uid=60002, gid=60102)


def command(**changes: object) -> list[str]:
    values: dict[str, object] = {
        "tools": TOOLS,
        "slot": SLOT,
        "limits": RUN_LIMITS,
        "address_space": RUN_LIMITS.memory_bytes,
        "program": ["/usr/bin/python3", "-I", "main.py"],
        "box_dir": Path("/var/runs/7/box"),
        "etc_dir": Path("/var/runs/7/etc"),
        "seccomp_fd": 7,
        "info_fd": 9,
    }
    values.update(changes)
    return build_command(SandboxCommand(**values))  # type: ignore[arg-type]


def pairs(argv: list[str], option: str) -> list[tuple[str, str]]:
    """Every (source, destination) following `option` in the bubblewrap part of `argv`."""
    bwrap = argv[: argv.index("--")]
    return [(bwrap[i + 1], bwrap[i + 2]) for i, part in enumerate(bwrap) if part == option]


def test_every_namespace_but_the_user_one_is_new() -> None:
    argv = command()
    bwrap = argv[: argv.index("--")]
    for option in (
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ):
        assert option in bwrap
    # A user namespace would map only root: the dedicated uid must be a real one.
    assert "--unshare-all" not in bwrap
    assert "--unshare-user" not in bwrap
    assert "--share-net" not in bwrap
    assert {"--die-with-parent", "--new-session", "--clearenv"} <= set(bwrap)


def test_environment_is_only_path_home_and_lang() -> None:
    argv = command()
    assert pairs(argv, "--setenv") == list(SANDBOX_ENV)
    assert [name for name, _ in SANDBOX_ENV] == ["PATH", "HOME", "LANG"]
    assert argv.index("--clearenv") < argv.index("--setenv")


def test_only_usr_is_bound_from_the_host_and_read_only() -> None:
    argv = command()
    assert ("/usr", "/usr") in pairs(argv, "--ro-bind")
    assert ("/lib64", "/lib64") in pairs(argv, "--ro-bind")  # a real folder on this host
    assert pairs(argv, "--symlink") == [("usr/bin", "/bin"), ("usr/lib", "/lib")]
    assert pairs(argv, "--bind") == []
    assert pairs(argv, "--dev-bind") == []
    sources = {source for source, _ in pairs(argv, "--ro-bind") + pairs(argv, "--ro-bind-try")}
    for hidden in ("/", "/root", "/home", "/etc", "/var", "/run", "/proc", "/sys", str(Path.cwd())):
        assert hidden not in sources
    assert ("/var/runs/7/box", "/box") in pairs(argv, "--ro-bind")
    assert ("/var/runs/7/etc/passwd", "/etc/passwd") in pairs(argv, "--ro-bind")
    remount = argv.index("--remount-ro")
    assert argv[remount + 1] == "/"


def test_tmp_is_a_private_tmpfs_of_the_limit_size() -> None:
    argv = command(limits=Limits(tmp_bytes=4 * MIB))
    tmpfs = argv.index("--tmpfs")
    assert argv[tmpfs + 1] == "/tmp"
    assert argv[tmpfs - 2 : tmpfs] == ["--size", str(4 * MIB)]
    assert argv[tmpfs - 4 : tmpfs - 2] == ["--perms", "01777"]


def test_the_build_folder_is_writable_only_while_compiling() -> None:
    build = Path("/var/runs/7/build")
    compiling = command(build_dir=build, build_writable=True)
    running = command(build_dir=build, build_writable=False)
    assert (str(build), BUILD_DIR) in pairs(compiling, "--bind")
    assert (str(build), BUILD_DIR) in pairs(running, "--ro-bind")
    assert (str(build), BUILD_DIR) not in pairs(running, "--bind")
    assert BUILD_DIR not in command()


def test_the_program_runs_as_the_slot_uid_without_privileges() -> None:
    argv = command()
    setpriv = argv.index("/usr/bin/setpriv")
    assert argv[setpriv - 1] == "--"
    options = argv[setpriv + 1 : argv.index("--", setpriv)]
    assert options == [
        "--reuid=60002",
        "--regid=60102",
        "--clear-groups",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
    ]
    assert ["--seccomp", "7"] == argv[argv.index("--seccomp") : argv.index("--seccomp") + 2]
    assert ["--info-fd", "9"] == argv[argv.index("--info-fd") : argv.index("--info-fd") + 2]


def test_prlimit_carries_every_limit_then_the_program() -> None:
    limits = Limits(
        cpu_seconds=2.5,
        memory_bytes=64 * MIB,
        processes=12,
        file_bytes=2 * MIB,
        open_files=32,
        stack_bytes=4 * MIB,
    )
    argv = command(limits=limits, address_space=96 * MIB)
    prlimit = argv.index("/usr/bin/prlimit")
    separator = argv.index("--", prlimit)
    assert argv[prlimit + 1 : separator] == [
        "--cpu=3:4",
        f"--as={96 * MIB}",
        "--nproc=12",
        f"--fsize={2 * MIB}",
        "--nofile=32",
        f"--stack={4 * MIB}",
        "--core=0",
    ]
    assert argv[separator + 1 :] == ["/usr/bin/python3", "-I", "main.py"]
