"""`cgman classify -g CONTROLLERS:PATH [-g ...] PID...`, libcgroup's cgclassify.

Each PID's whole process (its thread group: a thread's id names its process)
moves into the groups, in every hierarchy asked and the mirrors, and the move
is checked in /proc/PID/cgroup. A process that is gone, or exits while it is
moved (a zombie's move "succeeds" and moves nothing), is reported and is not
a failure: it is a normal outcome (DESIGN.md §4). A process whose start time
changed during the move exited and its id went to a new process, which the
move then caught: that is reported as a failure, naming where the newcomer is.

--sticky marks each process placed, and what it starts, sticky: the rules
engine leaves it where it is (cgmand/sticky.py). --cancel-sticky removes the
mark, and the rules apply to it again. cgmand keeps the marks; root's are
written to its file when no cgmand runs.

An unprivileged user is placed by cgmand (its place socket): into a group
whose perm.task names the user or one of their groups, and only their own
processes (cgmand/policy.py). On cgroup v1 without cgmand, the user moves
them directly where the group's task files are theirs.

Exit status: 0 when every live process is where it was asked to go, 1 when
some move failed (each named on stderr), 2 for a bad command line (a PID that
is not a number, as cgclassify).
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Optional

    from cgmand.roots import Roots

from cgmand.errors import CgmanError, ExitCode, ProcessGone
from cgmand.verbs import UsageError, guarded, options

USAGE = """usage: cgman [ROOT OPTIONS] classify -g CONTROLLERS:PATH [-g ...] [--sticky|--cancel-sticky] PID...

Move each process (all its threads) into the group PATH (relative to cgman's
base) of the hierarchies of CONTROLLERS ("cpu,memory", "*" for all, "" for
cgroup v2 alone: ":PATH"). A process that is gone is reported, not a failure.
Exit status: 0 all placed, 1 some move failed, 2 bad command line."""


FLAGS = {"-s": "sticky", "--sticky": "sticky", "--cancel-sticky": "cancel"}


def parse(argv: List[str]):
    # cgclassify's getopt permutes: options may follow the PIDs (cgclassify 42 -g cpu:web).
    groups, given, rest = options(argv, FLAGS)
    while rest and rest[0] != "--" and any(arg.startswith("-") and not arg[1:].isdigit() for arg in rest):
        pids = []
        while rest and not (rest[0].startswith("-") and not rest[0][1:].isdigit()):
            pids.append(rest.pop(0))
        more_groups, more_given, after = options(rest, FLAGS)
        groups, given, rest = groups + more_groups, given | more_given, pids + after
        if not more_groups and not more_given:
            break
    if {"sticky", "cancel"} <= given:
        raise UsageError("--sticky and --cancel-sticky contradict each other")
    if not groups and "cancel" not in given:  # --cancel-sticky alone frees the processes for the rules
        raise UsageError("-g CONTROLLERS:PATH is required (placing by rules comes with the rules engine)")
    if not rest:
        raise UsageError("no process given", hint="cgman classify -g cpu:web PID...")
    bad = [text for text in rest if not (text.isascii() and text.isdigit()) or int(text) == 0]
    if bad:
        raise UsageError(f"{bad[0]} is not a process id", hint="process ids are positive numbers")
    mode = True if "sticky" in given else False if "cancel" in given else None
    return groups, [int(text) for text in rest], mode


def main(argv: List[str], roots: Roots) -> int:
    return guarded("classify", USAGE, lambda: _classify_all(argv, roots))


def _classify_all(argv: List[str], roots: Roots) -> int:
    from cgmand import targets
    from cgmand.verbs.execute import host

    from cgmand.kernel import attach

    import os

    groups, pids, mode = parse(argv)
    root = os.geteuid() == 0
    specs = [targets.parse(text) for text in groups]
    here = host(roots)
    # Root joins the mirrors too (a pid write takes the migration lock anyway); a user
    # without systemd leaves a hybrid host's cgroup2 mirror out, as exec does: it is not
    # theirs to write, and holds no controller there.
    chosen = targets.resolve(here, specs, mirrors=root or here.systemd is not None)
    attach.check(chosen)  # before any process moves: none is left half-moved by a missing group
    if not groups and root:  # --cancel-sticky alone: no move
        _record(roots, pids, "", False)
        return ExitCode.OK
    if not root and (mode is not None or any(t.hierarchy.version == 2 for t in chosen)):
        from cgmand.verbs import viadaemon

        answer = viadaemon.place(roots, groups, pids, mode)
        if answer is not None:
            for problem in answer.get("problems", []):
                print(f"cgman classify: {problem['problem']}", file=sys.stderr)
            return ExitCode.FAILED if any(not p["gone"] for p in answer.get("problems", [])) else ExitCode.OK
        if mode is not None:
            viadaemon.warn("--sticky/--cancel-sticky not recorded: cgmand is not running, and only it or "
                           "root records marks")
    if not groups:
        return ExitCode.OK
    failed = False
    placed = []
    for pid in pids:
        problem = classify(pid, chosen, roots.proc_root)
        if problem is not None:
            gone, message = problem
            print(f"cgman classify: {message}", file=sys.stderr)
            failed = failed or not gone
        elif mode is not None:
            placed.append(pid)
    if placed and os.geteuid() == 0:
        _record(roots, placed, specs[0].group, mode)
    return ExitCode.FAILED if failed else ExitCode.OK


def _record(roots: Roots, pids: List[int], group: str, sticky: bool) -> None:
    from cgmand.kernel import procinfo
    from cgmand.verbs import viadaemon

    identities = []
    for pid in pids:
        try:
            identities.append(procinfo.identity(pid, roots.proc_root))
        except ProcessGone:
            pass  # exited since: no mark to keep
    viadaemon.record_sticky(roots, identities, group, sticky)


def classify(pid: int, chosen, proc_root: str, expected: Optional[tuple] = None) -> Optional[tuple]:
    """Move one process; None when it is where it was asked to go, else (gone?, message).
    ``expected``: the (leader, start time) the caller checked (cgmand's policy): a
    different process behind the id now is not moved."""
    from cgmand.kernel import attach, procinfo

    try:
        leader, started = procinfo.identity(pid, proc_root)
        if expected is not None and (leader, started) != tuple(expected):
            return True, f"process {pid} is gone (its id now names another process), not moved"
        joined = attach.move(leader, chosen)
        wrong = attach.misplaced(leader, joined, proc_root)
    except ProcessGone:
        return True, f"process {pid} is gone (it exited), not moved"
    except CgmanError as err:
        return False, f"process {pid}: {err.render()}"
    try:
        replaced = procinfo.identity(leader, proc_root) != (leader, started)
    except ProcessGone:
        return True, f"process {pid} exited while it was moved"
    if replaced:  # the id was reused between the look and the move: say what happened
        return False, (f"process {pid} exited and its id was reused by a new process during the move; "
                       f"that new process is now in {chosen[0].path}")
    if wrong:
        if procinfo.is_zombie(leader, proc_root):
            return True, f"process {pid} exited while it was moved (a zombie), not moved"
        return False, (f"process {pid}: the move succeeded but /proc/{leader}/cgroup does not show "
                       f"{wrong[0].path} in the {wrong[0].hierarchy.key} hierarchy")
    return None
