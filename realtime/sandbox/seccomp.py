"""A seccomp filter that keeps a sandboxed program from building a sandbox of its own.

Without it the program, although unprivileged, could create a user namespace (the kernel allows
it to anyone), become root there and mount an unbounded tmpfs, outside our 16 MB /tmp. The
filter refuses the system calls a dojo program never needs and that widen the kernel's attack
surface: namespaces and mounts, keyrings, BPF, perf, userfaultfd, io_uring, ptrace and
cross-process memory access, and the administrator's calls (modules, kexec, reboot, swap).
``clone3`` answers ENOSYS, since its flags live in memory a filter cannot read; the C library
then falls back to ``clone``, whose namespace flags the filter can see and refuses.

The program is classic BPF, written here (no libseccomp on the host) and handed to bubblewrap
with ``--seccomp FD``; bubblewrap installs it just before the program's first ``exec``.
System calls of another architecture (32-bit ones on x86-64) kill the process.
"""

from __future__ import annotations

import errno
import platform
import struct

from realtime.sandbox.errors import SandboxUnavailable

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
_LD_W_ABS = 0x20
_JMP_JEQ_K = 0x15
_JMP_JGE_K = 0x35
_JMP_JSET_K = 0x45
_RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

_OFFSET_NR = 0
_OFFSET_ARCH = 4
_OFFSET_ARG0_LOW = 16  # seccomp_data.args[0], little-endian low word

_X32_SYSCALL_BIT = 0x40000000
NAMESPACE_FLAGS = 0x7E020000
"""CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET."""

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

DENIED_SYSCALLS: tuple[str, ...] = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "quotactl",
    "name_to_handle_at",
    "open_by_handle_at",
)
"""Refused with EPERM."""

NOT_IMPLEMENTED_SYSCALLS: tuple[str, ...] = (
    "clone3",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
"""Answered with ENOSYS, so runtimes fall back to the older call (clone, plain reads and writes)."""

SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "unshare": 272,
        "setns": 308,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "chroot": 161,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "kexec_load": 246,
        "kexec_file_load": 320,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "acct": 163,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "syslog": 103,
        "quotactl": 179,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "clone3": 435,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "clone": 56,
    },
    "aarch64": {
        "unshare": 97,
        "setns": 268,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "chroot": 51,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "kexec_load": 104,
        "kexec_file_load": 294,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "acct": 89,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "syslog": 116,
        "quotactl": 60,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "clone3": 435,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "clone": 220,
    },
}


def _instruction(code: int, k: int, jump_true: int = 0, jump_false: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jump_true, jump_false, k)


def _ret_errno(number: int) -> int:
    return _RET_ERRNO | (number & 0xFFFF)


def build_filter(machine: str | None = None) -> bytes:
    """The filter for `machine` (``platform.machine()`` by default), as bubblewrap reads it."""
    machine = machine or platform.machine()
    if machine not in SYSCALL_NUMBERS:
        raise SandboxUnavailable(
            f"no seccomp filter for the {machine} architecture (known: {', '.join(sorted(SYSCALL_NUMBERS))})",
            code="sandbox_unsupported_architecture",
        )
    numbers = SYSCALL_NUMBERS[machine]
    rules = [(numbers[name], _ret_errno(errno.EPERM)) for name in DENIED_SYSCALLS]
    rules += [(numbers[name], _ret_errno(errno.ENOSYS)) for name in NOT_IMPLEMENTED_SYSCALLS]

    body: list[bytes] = [_instruction(_LD_W_ABS, _OFFSET_NR)]
    if machine == "x86_64":
        body += [
            _instruction(_JMP_JGE_K, _X32_SYSCALL_BIT, 0, 1),
            _instruction(_RET_K, _ret_errno(errno.EPERM)),
        ]
    for number, action in rules:
        body += [_instruction(_JMP_JEQ_K, number, 0, 1), _instruction(_RET_K, action)]
    body += [
        _instruction(_JMP_JEQ_K, numbers["clone"], 0, 3),
        _instruction(_LD_W_ABS, _OFFSET_ARG0_LOW),
        _instruction(_JMP_JSET_K, NAMESPACE_FLAGS, 0, 1),
        _instruction(_RET_K, _ret_errno(errno.EPERM)),
        _instruction(_RET_K, RET_ALLOW),
    ]
    # Every jump of the architecture check lands on the last instruction: kill.
    to_kill = len(body)
    if to_kill > 255:
        raise AssertionError("seccomp filter too long for an 8-bit jump")
    program = [
        _instruction(_LD_W_ABS, _OFFSET_ARCH),
        _instruction(_JMP_JEQ_K, AUDIT_ARCH[machine], 0, to_kill),
        *body,
        _instruction(_RET_K, RET_KILL_PROCESS),
    ]
    return b"".join(program)
