"""Programs that work, fail, or overrun: exact output, statuses and measurements."""

from __future__ import annotations

import asyncio
import signal

import pytest

from realtime.sandbox.languages import detect_languages
from realtime.sandbox.runner import RunStatus, SandboxEngine
from tests.integration.sandbox.support import EngineFactory, sandbox_processes

pytestmark = pytest.mark.integration

HELLO: dict[str, str] = {
    "python": 'print("Olá, dojo!")',
    "javascript": 'console.log("Olá, dojo!")',
    "c": '#include <stdio.h>\nint main(void) { puts("Olá, dojo!"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "Olá, dojo!" << std::endl; }\n',
    "java": 'public class Main { public static void main(String[] a) { System.out.println("Olá, dojo!"); } }',
    "bash": 'echo "Olá, dojo!"',
    "perl": 'print "Olá, dojo!\\n";',
}


async def test_a_good_python_program_prints_exactly_its_output(engine: SandboxEngine) -> None:
    source = "import sys\nname = input()\nprint(f'hello, {name}')\nprint('line 2', end='')\n"
    outcome = await engine.run("python", source, stdin="dojo\n")
    assert outcome.status is RunStatus.OK
    assert (outcome.stdout, outcome.stderr, outcome.exit_code, outcome.signal) == (
        "hello, dojo\nline 2",
        "",
        0,
        None,
    )
    assert outcome.language == "python"
    assert outcome.language_version
    assert 0 < outcome.wall_seconds < 2
    assert 0 < outcome.cpu_seconds < 1
    assert 1_000_000 < outcome.memory_bytes < 128 * 1024 * 1024
    assert outcome.leftovers_killed == 0


async def test_stderr_and_the_exit_code_of_a_failing_program(engine: SandboxEngine) -> None:
    source = "import sys\nprint('partial')\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"
    outcome = await engine.run("python", source)
    assert outcome.status is RunStatus.RUNTIME_ERROR
    assert (outcome.stdout, outcome.stderr, outcome.exit_code) == ("partial\n", "boom\n", 3)
    raised = await engine.run("python", "raise ValueError('nope')")
    assert (raised.status, raised.exit_code) == (RunStatus.RUNTIME_ERROR, 1)
    assert raised.stderr.rstrip().endswith("ValueError: nope")


async def test_javascript_hello_world(engine: SandboxEngine) -> None:
    outcome = await engine.run("javascript", 'console.log("hello from node"); console.error("warn")')
    assert (outcome.status, outcome.stdout, outcome.stderr, outcome.exit_code) == (
        RunStatus.OK,
        "hello from node\n",
        "warn\n",
        0,
    )


@pytest.mark.parametrize("language", sorted(HELLO))
async def test_every_installed_language_says_hello(engine: SandboxEngine, language: str) -> None:
    if language not in {item.id for item in detect_languages()}:
        pytest.skip(f"{language} is not installed on this host")
    outcome = await engine.run(language, HELLO[language])
    assert (outcome.status, outcome.stdout, outcome.stderr) == (RunStatus.OK, "Olá, dojo!\n", "")


async def test_a_compile_error_returns_the_compilers_messages(engine: SandboxEngine) -> None:
    if "c" not in {item.id for item in detect_languages()}:
        pytest.skip("no C compiler on this host")
    outcome = await engine.run("c", "int main(void) { return missing; }\n")
    assert outcome.status is RunStatus.COMPILE_ERROR
    assert outcome.compile_output is not None
    assert "missing" in outcome.compile_output
    assert "error" in outcome.compile_output
    assert outcome.stdout == ""
    crashing = await engine.run("c", "int main(void) { int *p = 0; return *p; }\n")
    assert (crashing.status, crashing.signal, crashing.exit_code) == (RunStatus.SIGNAL, signal.SIGSEGV, None)


async def test_an_infinite_loop_is_killed_at_the_cpu_limit(make_engine: EngineFactory) -> None:
    engine = make_engine(wall_seconds=10)  # room for a loaded machine: the CPU limit must strike first
    outcome = await engine.run("python", "while True:\n    pass\n")
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.signal == signal.SIGXCPU
    assert 0.9 <= outcome.cpu_seconds < 2.1
    assert outcome.wall_seconds < engine.limits.run.wall_seconds


async def test_a_sleeping_program_is_killed_at_the_wall_limit(make_engine: EngineFactory) -> None:
    engine = make_engine(wall_seconds=1)
    outcome = await engine.run("python", "import time\nprint('start', flush=True)\ntime.sleep(60)\n")
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.stdout == "start\n"
    assert 1.0 <= outcome.wall_seconds < 2.5
    assert outcome.cpu_seconds < 0.5
    assert sandbox_processes(engine) == []


async def test_a_busy_loop_killed_at_the_wall_limit_still_reports_its_cpu(make_engine: EngineFactory) -> None:
    engine = make_engine(cpu_seconds=5, wall_seconds=1)
    outcome = await engine.run("python", "while True:\n    pass\n")
    assert (outcome.status, outcome.signal) == (RunStatus.TIMEOUT, signal.SIGKILL)
    # Counted although PID 1 never reported an exit code (it would be ~0 otherwise); the share of
    # the second it got depends on the machine's load.
    assert 0.1 <= outcome.cpu_seconds <= 1.3
    assert 1.0 <= outcome.wall_seconds < 2.5


async def test_a_memory_bomb_is_killed(engine: SandboxEngine) -> None:
    at_once = await engine.run("python", "block = bytearray(512 * 1024 * 1024)\n")
    assert at_once.status is RunStatus.MEMORY
    growing = await engine.run(
        "python", "chunks = []\nwhile True:\n    chunks.append(bytearray(1024 * 1024))\n"
    )
    assert growing.status is RunStatus.MEMORY
    javascript = await engine.run(
        "javascript", "const kept = [];\nwhile (true) kept.push(Buffer.alloc(1e7, 1));\n"
    )
    assert javascript.status is RunStatus.MEMORY


async def test_memory_is_limited_for_all_the_processes_together(engine: SandboxEngine) -> None:
    """Each child stays under the per-process limit; together they are far above it."""
    source = (
        "import os, time\n"
        "for _ in range(6):\n"
        "    if os.fork() == 0:\n"
        "        held = bytearray(90 * 1024 * 1024)\n"
        "        held[::4096] = b'x' * len(held[::4096])\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "time.sleep(30)\n"
    )
    outcome = await engine.run("python", source)
    assert outcome.status is RunStatus.MEMORY
    assert outcome.memory_bytes > engine.limits.run.memory_bytes
    assert sandbox_processes(engine) == []


async def test_output_is_capped_and_no_more_is_read(engine: SandboxEngine) -> None:
    cap = engine.limits.run.output_bytes
    outcome = await engine.run("python", "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n")
    assert outcome.status is RunStatus.OUTPUT_LIMIT
    assert outcome.output_truncated
    assert outcome.stdout == "x" * cap
    assert outcome.stderr == ""
    exactly = await engine.run("python", f"import sys\nsys.stdout.write('y' * {cap})\n")
    assert (exactly.status, len(exactly.stdout), exactly.output_truncated) == (RunStatus.OK, cap, False)
    both = await engine.run("python", "import sys\nfor _ in range(100):\n    sys.stderr.write('e' * 4096)\n")
    assert both.status is RunStatus.OUTPUT_LIMIT
    assert len(both.stdout) + len(both.stderr) == cap


async def test_runs_beyond_the_free_uids_wait_for_one(make_engine: EngineFactory) -> None:
    engine = make_engine(slots=2)
    source = "import os, time\ntime.sleep(0.3)\nprint(os.getuid())\n"
    outcomes = await asyncio.gather(*(engine.run("python", source) for _ in range(3)))
    assert [outcome.status for outcome in outcomes] == [RunStatus.OK] * 3
    uids = {int(outcome.stdout) for outcome in outcomes}
    assert uids <= {engine.first_uid, engine.first_uid + 1}
    assert len(uids) == 2
