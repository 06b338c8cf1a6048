"""Sandboxed code execution for dojos (the seed's CodeExecutionService): see `runner` for the design."""

from realtime.sandbox.errors import (
    InvalidRunRequest,
    LanguageUnavailable,
    SandboxBusy,
    SandboxConfigurationError,
    SandboxError,
    SandboxUnavailable,
)
from realtime.sandbox.languages import Language, LanguageSupport, get_language_support
from realtime.sandbox.limits import COMPILE_LIMITS, RUN_LIMITS, Limits, SandboxLimits
from realtime.sandbox.runner import RunOutcome, RunStatus, SandboxEngine

__all__ = [
    "COMPILE_LIMITS",
    "RUN_LIMITS",
    "InvalidRunRequest",
    "Language",
    "LanguageSupport",
    "LanguageUnavailable",
    "Limits",
    "RunOutcome",
    "RunStatus",
    "SandboxBusy",
    "SandboxConfigurationError",
    "SandboxEngine",
    "SandboxError",
    "SandboxLimits",
    "SandboxUnavailable",
    "get_language_support",
]
