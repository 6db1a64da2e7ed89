"""Structured logging with structlog, imported only when someone listens.

structlog costs about 60 ms to import on the reference machine, as much as an
unchanged re-apply of 1000 groups, so the quiet CLI never imports it: until
``configure()`` is called, ``logger()`` returns a no-op. Events are snake_case
past-tense facts with values in keys (DESIGN.md §5): cgroup_created,
knob_written, cgroup_removed, action_failed, reconcile_finished ...
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any


class _Silent:
    """Accepts every logging call and does nothing."""

    def bind(self, **_: Any) -> "_Silent":
        return self

    def _noop(self, *_: Any, **__: Any) -> None:
        return None

    debug = info = warning = error = exception = _noop


_logger: Any = _Silent()
_debug = False


def logger() -> Any:
    return _logger


def debug_enabled() -> bool:
    """Are debug events written? Per-process events in hot loops are not even built
    otherwise (a filtered structlog call still costs a few microseconds)."""
    return _debug


def enabled() -> bool:
    """Is anyone listening? Lets hot loops skip building event arguments."""
    return not isinstance(_logger, _Silent)


def configure(level: str = "info", fmt: str = "auto") -> None:
    """Start logging to stderr: console on a tty, else logfmt (or fmt="json")."""
    global _logger, _debug
    import logging

    import structlog

    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "logfmt"
    renderer = {
        "console": structlog.dev.ConsoleRenderer(),
        "json": structlog.processors.JSONRenderer(),
        "logfmt": structlog.processors.LogfmtRenderer(key_order=["event"]),
    }[fmt]
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _logger = structlog.get_logger("cgman")
    _debug = level.lower() == "debug"
