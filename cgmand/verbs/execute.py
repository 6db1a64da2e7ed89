"""`cgman exec -g CONTROLLERS:PATH [-g ...] [--sticky] COMMAND [ARG...]`, libcgroup's cgexec.

cgman moves itself into the groups, checks in /proc/self/cgroup that it
landed in every one, and execs the command: argv, environment, open files
and the exit status are the command's own. Anything that goes wrong before
the exec exits 125, and a command that cannot be run exits 126 (not
executable) or 127 (not found), as env(1), nice(1) and timeout(1) do; the
message names the group, the hierarchy and the reason.

Options end at the first argument that is not one (getopt's "+"), so the
command's own options need no "--".
"""

from __future__ import annotations

import errno
import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Tuple

    from cgmand.roots import Roots

from cgmand.errors import CgmanError
from cgmand.verbs import UsageError, guarded, options

USAGE = """usage: cgman [ROOT OPTIONS] exec -g CONTROLLERS:PATH [-g ...] [--sticky] COMMAND [ARG...]

Run COMMAND in the group PATH (relative to cgman's base) of the hierarchies of
CONTROLLERS ("cpu,memory", "*" for all, "" for cgroup v2 alone: ":PATH").
Exit status: COMMAND's own; 125 if cgman failed before running it, 126 if it
cannot be executed, 127 if it was not found."""


EXEC_FAILED, NOT_EXECUTABLE, NOT_FOUND = 125, 126, 127  # as env(1): cgman's, then exec's


def parse(argv: List[str]) -> Tuple[List[str], bool, List[str]]:
    """(-g specs, --sticky, the command and its arguments)."""
    groups, given, command = options(argv, {"-s": "sticky", "--sticky": "sticky"})
    if not command:
        raise UsageError("no command to run", hint="cgman exec -g cpu,memory:web COMMAND ARG...")
    if not groups:
        raise UsageError("-g CONTROLLERS:PATH is required (placing by rules comes with the rules engine)")
    return groups, "sticky" in given, command


def main(argv: List[str], roots: Roots) -> int:
    """Join the groups and exec; returns only when that failed (the exit status)."""
    def work() -> int:
        groups, sticky, command = parse(argv)
        try:
            place(groups, roots, sticky)
        except CgmanError:
            raise
        except Exception as err:  # a bug must not look like the command's own status 1
            raise CgmanError(f"internal error: {type(err).__name__}: {err}", reference="internal-error") from err
        return run(command)

    return guarded("exec", USAGE, work, EXEC_FAILED)


def place(groups: List[str], roots: Roots, sticky: bool = False) -> None:
    """Move this process into the groups, and check that it is there. Root moves itself;
    an unprivileged user is moved by cgmand where it must be (cgroup v2, or --sticky),
    else (cgroup v1) moves itself where perm.task lets it (cgmand/policy.py)."""
    from cgmand import targets
    from cgmand.kernel import attach

    specs = [targets.parse(text) for text in groups]
    here = host(roots)
    # Without systemd, the cgroup2 mirror of a hybrid host is left out: on cgroup2 even
    # writing 0 to cgroup.procs takes the migration lock and waits for an RCU grace
    # period (~8-15 ms after idle), where v1's tasks file does not (kernel/attach.py).
    # Under systemd it is what says whose process this is: joined.
    chosen = targets.resolve(here, specs, mirrors=here.systemd is not None)
    cold = attach.frozen(chosen)
    if cold is not None:
        raise attach.AttachError(f"{cold.path} ({cold.hierarchy.key}, -g {cold.spec}) is frozen: cgman would stop "
                                 "there before it could run the command", reference="group-frozen",
                                 hint="thaw the group first, or start the command elsewhere and move it "
                                      "with cgman classify")
    root = os.geteuid() == 0
    joined = None
    if not root and (sticky or any(t.hierarchy.version == 2 for t in chosen)):
        # On cgroup v2 a move needs write access to the common ancestor's cgroup.procs
        # too (cgroup-v2.rst, "Delegation Containment"), which a user never has here.
        from cgmand.verbs import viadaemon

        if viadaemon.place(roots, groups, None, True if sticky else None) is not None:
            joined = attach.check(chosen)
        elif sticky:
            viadaemon.warn("--sticky not recorded: cgmand is not running, and only it or root records marks")
    if joined is None:
        try:
            joined = attach.join_self(chosen, roots.proc_root)
        except attach.AttachError as err:
            if not root and err.reference == "permission-denied" and any(t.hierarchy.version == 2 for t in chosen):
                from cgmand.verbs.viadaemon import NO_DAEMON_HINT

                err.hint = NO_DAEMON_HINT
            raise
        if sticky and root:
            from cgmand.kernel import procinfo
            from cgmand.verbs import viadaemon

            viadaemon.record_sticky(roots, [procinfo.identity(os.getpid(), roots.proc_root)], specs[0].group, True)
    wrong = attach.misplaced("self", joined, roots.proc_root)
    if wrong:
        raise attach.AttachError(f"moved, but /proc/self/cgroup does not show {wrong[0].path} in the "
                                 f"{wrong[0].hierarchy.key} hierarchy", reference="attach-unverified")


def host(roots: Roots):
    """What exec needs of the host model: the view kept from the last exec when nothing it
    depends on changed (kernel/execview.py), else the model itself (and a new view)."""
    from cgmand.kernel import execview

    wanted = execview.key(roots)
    view = execview.load(roots, wanted)
    if view is not None:
        return view
    from cgmand import configcache
    from cgmand.kernel import hostinfo

    manager = configcache.for_verbs(roots).manager
    detected = hostinfo.detect(manager, roots, offered=False)
    # An invalid configuration is not kept in a view: say so each time, until it is fixed.
    return execview.save(roots, None if configcache.warned() else wanted, detected)


def run(command: List[str]) -> int:
    """exec the command as it was given. Python ignores SIGPIPE and SIGXFSZ, and an ignored
    signal stays ignored across exec: put them back, or `cgman exec ... yes | head` would
    never end on SIGPIPE."""
    try:  # the builtin half of the signal module: `import signal` loads enum (~3 ms)
        import _signal as signal
    except ImportError:  # pragma: no cover - not CPython
        import signal  # type: ignore[no-redef]
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    if sys.stdout is not None:  # None when cgman was started with fd 1 closed
        sys.stdout.flush()
    try:
        os.execvp(command[0], command)
    except OSError as err:
        if err.errno != errno.ENOEXEC:
            return _cannot_run(command, err)
    # No #! line: run it with the shell, as execvp(3) and env(1) do.
    try:
        os.execv("/bin/sh", ["/bin/sh", _found(command[0])] + command[1:])
    except OSError as err:
        return _cannot_run(command, err)
    return NOT_EXECUTABLE  # not reached


def _found(name: str) -> str:
    import shutil

    return name if "/" in name else (shutil.which(name) or name)


def _cannot_run(command: List[str], err: OSError) -> int:
    if isinstance(err, FileNotFoundError):
        print(f"cgman exec: {command[0]}: command not found", file=sys.stderr)
        return NOT_FOUND
    print(f"cgman exec: {command[0]}: {err.strerror}", file=sys.stderr)
    return NOT_EXECUTABLE
