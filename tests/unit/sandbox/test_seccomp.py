"""The seccomp filter, run on a small classic-BPF interpreter: what each system call gets."""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

import pytest

from realtime.sandbox.errors import SandboxUnavailable
from realtime.sandbox.seccomp import (
    AUDIT_ARCH,
    RET_ALLOW,
    RET_KILL_PROCESS,
    SYSCALL_NUMBERS,
    build_filter,
)

pytestmark = [pytest.mark.unit, pytest.mark.security]

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
THREAD_FLAGS = 0x003D0F00  # what pthread_create passes
SIGCHLD = 17


@dataclass(frozen=True)
class SyscallData:
    nr: int
    arch: int
    arg0: int = 0

    def load(self, offset: int) -> int:
        raw = struct.pack("<iIQ6Q", self.nr, self.arch, 0, self.arg0, 0, 0, 0, 0, 0)
        return int(struct.unpack_from("<I", raw, offset)[0])


def run_filter(program: bytes, data: SyscallData) -> int:
    """Interpret the opcodes the filter uses (ld abs, jeq, jge, jset, ret)."""
    instructions = [struct.unpack_from("<HBBI", program, offset) for offset in range(0, len(program), 8)]
    accumulator, pc = 0, 0
    while True:
        code, jump_true, jump_false, k = instructions[pc]
        if code == 0x20:
            accumulator = data.load(k)
            pc += 1
        elif code in (0x15, 0x35, 0x45):
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: bool(accumulator & k)}[code]
            pc += 1 + (jump_true if taken else jump_false)
        elif code == 0x06:
            return int(k)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def errno_of(number: int) -> int:
    return 0x00050000 | number


@pytest.mark.parametrize("machine", sorted(SYSCALL_NUMBERS))
def test_namespaces_mounts_and_kernel_surfaces_are_refused(machine: str) -> None:
    program, numbers, arch = build_filter(machine), SYSCALL_NUMBERS[machine], AUDIT_ARCH[machine]
    assert len(program) % 8 == 0
    for name in ("unshare", "setns", "mount", "pivot_root", "keyctl", "bpf", "userfaultfd", "ptrace"):
        assert run_filter(program, SyscallData(numbers[name], arch)) == errno_of(errno.EPERM), name
    for name in ("clone3", "io_uring_setup"):
        assert run_filter(program, SyscallData(numbers[name], arch)) == errno_of(errno.ENOSYS), name


@pytest.mark.parametrize("machine", sorted(SYSCALL_NUMBERS))
def test_clone_is_allowed_for_threads_and_processes_but_not_namespaces(machine: str) -> None:
    program, clone, arch = build_filter(machine), SYSCALL_NUMBERS[machine]["clone"], AUDIT_ARCH[machine]
    assert run_filter(program, SyscallData(clone, arch, THREAD_FLAGS)) == RET_ALLOW
    assert run_filter(program, SyscallData(clone, arch, SIGCHLD)) == RET_ALLOW
    for flag in (CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET):
        assert run_filter(program, SyscallData(clone, arch, SIGCHLD | flag)) == errno_of(errno.EPERM)


def test_ordinary_calls_pass_and_foreign_architectures_die() -> None:
    program = build_filter("x86_64")
    arch = AUDIT_ARCH["x86_64"]
    for number in (0, 1, 2, 9, 57, 59, 60, 231):  # read write open mmap fork execve exit exit_group
        assert run_filter(program, SyscallData(number, arch)) == RET_ALLOW
    assert run_filter(program, SyscallData(1, 0x40000003)) == RET_KILL_PROCESS  # i386 (int 0x80)
    assert run_filter(program, SyscallData(0x40000000 | 1, arch)) == errno_of(errno.EPERM)  # x32


def test_an_unknown_architecture_fails_closed() -> None:
    with pytest.raises(SandboxUnavailable) as raised:
        build_filter("riscv64")
    assert raised.value.code == "sandbox_unsupported_architecture"
