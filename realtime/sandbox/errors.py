"""What can go wrong around a run, as opposed to inside it (the program's own failures are statuses).

Every reason the sandbox cannot be trusted to hold a program is a `SandboxUnavailable`, and the
engine answers it with the SANDBOX_UNAVAILABLE status instead of running anything: it fails
closed, never unsandboxed. Each carries a stable ``code`` that clients translate.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of the sandbox's own errors."""

    code = "sandbox_error"


class SandboxConfigurationError(SandboxError):
    """Settings that can never work (a negative limit, an unknown limit name)."""

    code = "sandbox_misconfigured"


class SandboxUnavailable(SandboxError):
    """The sandbox cannot isolate a program on this host right now, so nothing runs."""

    code = "sandbox_unavailable"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code


class LanguageUnavailable(SandboxUnavailable):
    """The language is unknown, or its interpreter or compiler is not installed on this host."""

    code = "language_unavailable"


class SandboxBusy(SandboxUnavailable):
    """Every dedicated uid of this host is running something, and none came free in time."""

    code = "sandbox_busy"


class InvalidRunRequest(SandboxError):
    """The program or its input is larger than the limits accept; running it again cannot help."""

    code = "invalid_request"
