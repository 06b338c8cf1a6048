"""What a sandboxed program cannot do: reach the network, see the host, keep privileges, outlive its run."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from realtime.sandbox.runner import RunStatus, SandboxEngine
from tests.integration.sandbox.support import EngineFactory, UidBlock, sandbox_processes

pytestmark = [pytest.mark.integration, pytest.mark.security]

REPOSITORY = Path(__file__).resolve().parents[3]


async def test_the_network_is_unreachable(engine: SandboxEngine) -> None:
    """Neither the internet nor a service listening on the host's loopback can be reached."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        source = (
            "import socket\n"
            f"for address in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('example.com', 80)]:\n"
            "    try:\n"
            "        socket.create_connection(address, timeout=1).close()\n"
            "        print(address[0], 'connected')\n"
            "    except OSError as error:\n"
            "        print(address[0], type(error).__name__)\n"
            "print(sorted(name for _, name in socket.if_nameindex()))\n"
        )
        outcome = await engine.run("python", source)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's listener
    assert outcome.status is RunStatus.OK, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[0] == "127.0.0.1 ConnectionRefusedError"
    assert lines[1] in ("1.1.1.1 OSError", "1.1.1.1 TimeoutError")
    assert lines[2] == "example.com gaierror"
    assert lines[3] == "['lo']"
    assert "connected" not in outcome.stdout


async def test_a_fork_bomb_stops_at_the_process_limit(make_engine: EngineFactory) -> None:
    engine = make_engine(memory_bytes=1024 * 1024 * 1024)
    source = (
        "import os, time\n"
        "children = 0\n"
        "while True:\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError as error:\n"
        "        print(children, error.errno == 11, flush=True)\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    children += 1\n"
    )
    outcome = await engine.run("python", source)
    assert outcome.status is RunStatus.OK, outcome.stderr
    children, refused = outcome.stdout.split()
    assert refused == "True"
    assert int(children) == engine.limits.run.processes - 1
    assert sandbox_processes(engine) == []


async def test_a_shell_fork_bomb_is_contained_until_the_wall_limit(make_engine: EngineFactory) -> None:
    engine = make_engine(wall_seconds=2, memory_bytes=1024 * 1024 * 1024)
    peak = 0
    done = asyncio.Event()

    async def count_processes() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, len(sandbox_processes(engine)))
            await asyncio.sleep(0.1)

    counter = asyncio.create_task(count_processes())
    outcome = await engine.run(
        "bash", "exec 2>/dev/null\nbomb() { bomb | bomb & }\nwhile true; do bomb; done\n"
    )
    done.set()
    await counter
    assert outcome.status is RunStatus.TIMEOUT
    assert 0 < peak <= engine.limits.run.processes
    assert outcome.wall_seconds < 4
    assert sandbox_processes(engine) == []


async def test_only_tmp_is_writable_and_it_is_capped(engine: SandboxEngine) -> None:
    source = (
        "import errno, os\n"
        "targets = ['/box/main.py', '/box/new', '/usr/new', '/new', '/etc/passwd']\n"
        "targets += ['/dev/shm/new', '/proc/new']\n"
        "for path in targets:\n"
        "    try:\n"
        "        open(path, 'a').close()\n"
        "        print(path, 'written')\n"
        "    except OSError as error:\n"
        "        print(path, errno.errorcode[error.errno])\n"
        "with open('/tmp/note', 'w') as note:\n"
        "    note.write('kept')\n"
        "print(open('/tmp/note').read())\n"
        "try:\n"
        "    with open('/tmp/big', 'wb') as big:\n"
        "        big.write(b'x' * (2 * 1024 * 1024))\n"
        "except OSError as error:\n"
        "    print('big', errno.errorcode[error.errno])\n"
        "written = 0\n"
        "try:\n"
        "    for index in range(100):\n"
        "        with open(f'/tmp/part{index}', 'wb') as part:\n"
        "            part.write(b'x' * (512 * 1024))\n"
        "        written += 512 * 1024\n"
        "except OSError as error:\n"
        "    print('parts', errno.errorcode[error.errno], written // (1024 * 1024))\n"
        "for line in open('/proc/self/mountinfo'):\n"
        "    fields = line.split()\n"
        "    print('mount:' + fields[4], fields[5].split(',')[0])\n"
    )
    outcome = await engine.run("python", source)
    assert outcome.status is RunStatus.OK, outcome.stderr
    results = dict(line.split(" ", 1) for line in outcome.stdout.splitlines() if " " in line)
    for path in ("/box/main.py", "/box/new", "/usr/new", "/new", "/etc/passwd"):
        assert results[path] in ("EROFS", "EACCES"), path
    for mount in ("/", "/usr", "/box", "/etc/passwd", "/etc/hosts"):
        assert results[f"mount:{mount}"] == "ro", mount
    assert results["mount:/tmp"] == "rw"
    assert results["/dev/shm/new"] in ("EACCES", "EROFS")
    assert results["/proc/new"] in ("ENOENT", "EACCES")
    assert "kept" in outcome.stdout.splitlines()
    assert results["big"] == "EFBIG"  # larger than the file-size limit (1 MB)
    error, megabytes = results["parts"].split()
    assert error == "ENOSPC"
    assert int(megabytes) < engine.limits.run.tmp_bytes // (1024 * 1024)


async def test_the_environment_holds_nothing_of_the_worker(
    engine: SandboxEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MRBILL_SANDBOX_TEST_SECRET", "s3cr3t-value-never-shown")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "another-secret-value")
    outcome = await engine.run("python", "import json, os\nprint(json.dumps(dict(os.environ)))\n")
    assert outcome.status is RunStatus.OK
    assert json.loads(outcome.stdout) == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PWD": "/box",  # set by bubblewrap's --chdir
    }
    shell = await engine.run("bash", "cat /proc/1/environ; env; cat /proc/self/environ")
    for secret in ("s3cr3t-value-never-shown", "another-secret-value", "MRBILL_"):
        assert secret not in shell.stdout + shell.stderr


async def test_the_program_runs_as_a_dedicated_uid_without_privileges(engine: SandboxEngine) -> None:
    source = (
        "import os\n"
        "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
        "keys = ('CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')\n"
        "print(*(status[key].strip() for key in keys))\n"
        "for call in (lambda: os.setuid(0), lambda: os.chroot('/tmp'), lambda: os.unshare(0)):\n"
        "    try:\n"
        "        call()\n"
        "        print('allowed')\n"
        "    except (OSError, AttributeError) as error:\n"
        "        print(type(error).__name__)\n"
    )
    outcome = await engine.run("python", source)
    assert outcome.status is RunStatus.OK, outcome.stderr
    identity, capabilities, *attempts = outcome.stdout.splitlines()
    uid, euid, gid, groups = identity.split(" ", 3)
    assert int(uid) == int(euid)
    assert engine.first_uid <= int(uid) < engine.first_uid + engine.slots
    assert engine.first_gid <= int(gid) < engine.first_gid + engine.slots
    assert groups == "[]"
    assert capabilities.split() == ["0000000000000000"] * 4 + ["1", "2"]
    assert "allowed" not in attempts


async def test_no_new_namespace_can_be_built_inside(engine: SandboxEngine) -> None:
    """The kernel lets anyone create a user namespace; the seccomp filter does not."""
    outcome = await engine.run(
        "bash",
        "unshare --user --map-root-user id; echo rc=$?\nunshare --mount --user true; echo rc=$?\n",
    )
    assert outcome.stdout.splitlines() == ["rc=1", "rc=1"]
    assert "Operation not permitted" in outcome.stderr


async def test_the_host_and_this_repository_are_invisible(engine: SandboxEngine) -> None:
    paths = [
        "/root",
        "/home",
        "/work",
        str(REPOSITORY),
        "/var",
        "/run",
        "/etc/shadow",
        "/sys",
        "/opt",
        "/srv",
    ]
    source = (
        "import os\n"
        f"for path in {paths!r}:\n"
        "    print(path, os.path.exists(path))\n"
        "print('etc', sorted(os.listdir('/etc')))\n"
        "print('processes', sorted(int(name) for name in os.listdir('/proc') if name.isdigit()))\n"
    )
    outcome = await engine.run("python", source)
    assert outcome.status is RunStatus.OK, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[: len(paths)] == [f"{path} False" for path in paths]
    listed = lines[len(paths)]
    assert "shadow" not in listed
    assert "ssh" not in listed
    processes = json.loads(lines[len(paths) + 1].split(" ", 1)[1])
    assert processes[0] == 1
    assert len(processes) <= 3  # bubblewrap's PID 1, the program; nothing of the host


async def test_a_killed_sandbox_leaves_no_process_behind(make_engine: EngineFactory) -> None:
    """Background children, a daemon in its own session, a grandchild re-parented to PID 1: all gone."""
    engine = make_engine(wall_seconds=1)
    source = (
        "sleep 300 &\n"
        "setsid sleep 301 &\n"
        "( ( sleep 302 & ) & )\n"
        "nohup sleep 303 >/dev/null 2>&1 &\n"
        "sleep 304\n"
    )
    outcome = await engine.run("bash", source)
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.leftovers_killed == 0
    assert sandbox_processes(engine) == []


async def test_a_cancelled_run_kills_its_sandbox(make_engine: EngineFactory) -> None:
    engine = make_engine(wall_seconds=30, cpu_seconds=30)
    run = asyncio.create_task(engine.run("python", "import time\nwhile True:\n    time.sleep(1)\n"))
    for _ in range(50):
        if sandbox_processes(engine):
            break
        await asyncio.sleep(0.05)
    assert sandbox_processes(engine), "the program never started"
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sandbox_processes(engine) == []


async def test_without_a_working_sandbox_nothing_runs(tmp_path: Path, uid_block: UidBlock) -> None:
    """A bubblewrap that does not isolate (here: /usr/bin/true) fails the probe: fail closed."""
    marker = tmp_path / "ran"
    engine = SandboxEngine(
        bwrap_path="/usr/bin/true",
        first_uid=uid_block.first_uid,
        first_gid=uid_block.first_uid,
        state_dir=tmp_path / "sandbox",
    )
    outcome = await engine.run("bash", f"touch {marker}")
    assert (outcome.status, outcome.error_code) == (RunStatus.SANDBOX_UNAVAILABLE, "sandbox_probe_failed")
    assert not marker.exists()
    assert os.listdir(tmp_path / "sandbox" / "runs") == []


@pytest.mark.chaos
async def test_a_worker_killed_mid_run_leaves_no_sandbox_behind(engine: SandboxEngine) -> None:
    """bubblewrap dies with its parent, and the sandbox's PID 1 with bubblewrap (--die-with-parent)."""
    worker = (
        "import asyncio, pathlib\n"
        "from realtime.sandbox import SandboxEngine\n"
        f"engine = SandboxEngine(first_uid={engine.first_uid}, first_gid={engine.first_gid},"
        f" state_dir=pathlib.Path({str(engine.work_dir)!r}))\n"
        "asyncio.run(engine.run('python', 'import time\\ntime.sleep(60)'))\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", worker, cwd=REPOSITORY, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            if sandbox_processes(engine):
                break
            await asyncio.sleep(0.05)
        assert sandbox_processes(engine), "the program never started"
    finally:
        process.kill()
        await process.wait()
    for _ in range(40):
        if not sandbox_processes(engine):
            break
        await asyncio.sleep(0.05)
    assert sandbox_processes(engine) == []
