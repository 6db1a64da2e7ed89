"""Errors and exit codes.

Every error cgman reports carries a stable kebab-case ``reference`` (listed in
docs/errors.md), a message that names what was found and what was expected, and
an optional hint. This module imports nothing from cgmand, so every layer can
use it without import cycles.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Optional, Sequence


class ExitCode:
    """Process exit statuses, in one place (sysexits.h where one fits). Plain ints,
    not an IntEnum: importing enum costs ~3 ms of the unchanged re-apply."""

    OK = 0
    FAILED = 1  # some actions failed; the rest were applied
    USAGE = 2  # bad command line (argparse uses 2 as well)
    DRIFT = 3  # `plan --detailed-exitcode`: the kernel differs from the config
    UNAVAILABLE = 69  # EX_UNAVAILABLE: the host cannot be managed (no cgroupfs, no delegation)
    NOPERM = 77  # EX_NOPERM
    CONFIG = 78  # EX_CONFIG: invalid configuration; nothing was applied


class CgmanError(Exception):
    """Base class: something cgman refuses or cannot do, explained."""

    reference = "cgman-error"
    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: Optional[str] = None, reference: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if reference:
            self.reference = reference

    def render(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def as_dict(self) -> dict:
        return {"reference": self.reference, "message": self.message, "hint": self.hint}


class ConfigError(CgmanError):
    """One problem in one configuration file, located by file and TOML key path."""

    reference = "config-invalid"
    exit_code = ExitCode.CONFIG

    def __init__(
        self,
        message: str,
        *,
        source: Optional[str] = None,
        key: Optional[str] = None,
        hint: Optional[str] = None,
        reference: Optional[str] = None,
    ):
        self.source = source
        self.key = key
        located = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{located}: {message}" if located else message, hint, reference)

    def as_dict(self) -> dict:
        out = super().as_dict()
        out.update(source=self.source, key=self.key)
        return out


class ConfigErrors(CgmanError):
    """All the problems found in a configuration, reported together."""

    reference = "config-invalid"
    exit_code = ExitCode.CONFIG

    def __init__(self, errors: Sequence[ConfigError], partial: Any = None):
        self.errors = list(errors)
        # The configuration without the groups in error, when every error is inside a
        # group (so [manager] was read whole): what the imperative verbs may still use.
        self.partial = partial
        super().__init__("\n".join(e.render() for e in self.errors))

    def render(self) -> str:
        count = len(self.errors)
        head = "configuration is invalid" + (f" ({count} problems)" if count > 1 else "")
        return head + ":\n" + "\n".join("  " + e.render().replace("\n", "\n  ") for e in self.errors)


class HostError(CgmanError):
    """The host cannot be managed as asked (no cgroupfs, no delegated subtree, ...)."""

    reference = "host-unusable"
    exit_code = ExitCode.UNAVAILABLE


class KernelError(CgmanError):
    """A cgroupfs or procfs operation failed; raised from the OSError by kernel/ only."""

    reference = "kernel-error"

    def __init__(self, op: str, path: str, errno: int, message: str, value: Optional[str] = None):
        self.op = op
        self.path = path
        self.errno = errno
        self.value = value
        super().__init__(message)


class CgroupGone(KernelError):
    """The cgroup directory does not exist (ENOENT on the directory)."""

    reference = "cgroup-gone"


class CgroupBusy(KernelError):
    """rmdir refused: the cgroup still has processes or children (EBUSY)."""

    reference = "cgroup-busy"


class ProcessGone(KernelError):
    """The process exited while we looked at it: a normal outcome, logged at debug level."""

    reference = "process-gone"
