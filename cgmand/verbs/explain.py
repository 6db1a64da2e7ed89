"""`cgman explain PID [--json]`: what the rules engine sees of a process and what it would
do with it, rule by rule, and why.

It reads the configuration's rules (as cgmand would, from the files now), the
process's attributes from /proc (each one a rule looks at), its origin and
whether a sticky mark covers it, then every rule's verdict in the order they
are tried. Nothing is moved.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List

    from cgmand.roots import Roots

from cgmand.errors import CgmanError, ExitCode, ProcessGone
from cgmand.verbs import UsageError, guarded

USAGE = """usage: cgman [ROOT OPTIONS] explain [--json] PID

Show what the rules engine reads of process PID, each rule's verdict and why,
and where the process would go. Nothing is moved."""


def main(argv: List[str], roots: Roots) -> int:
    return guarded("explain", USAGE, lambda: _explain(argv, roots))


def _explain(argv: List[str], roots: Roots) -> int:
    from cgmand import configcache, origins, rules as rulebook
    from cgmand.kernel import procinfo, stickyfile
    from cgmand.kernel.procfacts import ProcFacts
    from cgmand.verbs import Help
    from cgmand.verbs.execute import host

    if "-h" in argv or "--help" in argv:
        raise Help()
    as_json = "--json" in argv
    rest = [a for a in argv if a != "--json"]
    if len(rest) != 1 or not (rest[0].isascii() and rest[0].isdigit()) or int(rest[0]) == 0:
        raise UsageError("expected one process id", hint="cgman explain 4242")
    pid = int(rest[0])
    desired = configcache.for_verbs(roots)
    here = host(roots)
    facts = ProcFacts(pid, roots.proc_root)
    try:
        pid = facts.tgid()  # a thread's id names its process
        facts = ProcFacts(pid, roots.proc_root)
        seen = {"pid": pid, "comm": facts.comm(), "exe": facts.exe(), "argv": facts.argv(), "uid": facts.uid(),
                "groups": list(facts.gids()), "cgroup": facts.cgroup(),
                "parent": _parent(facts), "kernel_thread": facts.kernel_thread()}
        container = _container(facts, roots.proc_root)
        kind = origins.origin(seen["cgroup"], here.base, here.systemd is not None, container)
        marks = stickyfile.load(roots.run_root)
        mark = marks.decide(procinfo.line(pid, roots.proc_root)) if marks else None
        decision = rulebook.decide(desired.rules, facts, explain=True)
        rule = decision.rule
        where = rulebook.destination(rule, facts) if rule is not None and rule.place else None
    except ProcessGone:
        raise CgmanError(f"no process {rest[0]}", reference="process-gone") from None
    verdict = _verdict(pid, seen, rule, where, kind, mark)
    if as_json:
        import json

        print(json.dumps({"process": seen, "origin": kind, "origin_default": origins.allowed(kind, ()),
                          "sticky": mark is not None and mark.sticky,
                          "rules": [{"name": r.name, "where": r.where(), "priority": r.priority, "matches": ok,
                                     "why": why} for r, ok, why in decision.verdicts],
                          "rule": rule.name if rule else None, "destination": where, "verdict": verdict}, indent=1))
        return ExitCode.OK
    print(f"process {pid}: comm {seen['comm']!r}, exe {seen['exe'] or '(unreadable)'}, uid {seen['uid']}, "
          f"groups {' '.join(map(str, seen['groups']))}")
    print(f"  argv: {' '.join(seen['argv']) or '(none: a kernel thread or a zombie)'}")
    print(f"  cgroup: {seen['cgroup']} (origin: {kind}{'' if origins.allowed(kind, ()) else ', rules must opt in'})")
    if seen["parent"]:
        print(f"  parent: {seen['parent']}")
    if mark is not None:
        print(f"  sticky mark: {'sticky' if mark.sticky else 'cancelled'}"
              + (f" (placed in {mark.group})" if mark.group else ""))
    print("rules, in the order they are tried:" if decision.verdicts else "no rules in the configuration")
    for index, (candidate, ok, why) in enumerate(decision.verdicts, 1):
        flag = "MATCH" if ok else "no"
        chosen = "  <- first match" if candidate is rule else ""
        print(f"  {index}. {candidate.name} ({candidate.where()}, priority {candidate.priority}): {flag}: {why}{chosen}")
    print(verdict)
    return ExitCode.OK


def _parent(facts) -> str:
    parent = facts.parent()
    if parent is None:
        return ""
    try:
        return f"{parent.pid} ({parent.comm()})"
    except ProcessGone:
        return f"{parent.pid} (gone)"


def _container(facts, proc_root: str) -> bool:
    from cgmand.kernel.procfacts import pid_namespace

    mine, init = facts.pid_namespace(), pid_namespace(1, proc_root)
    return mine is not None and init is not None and mine != init


def _verdict(pid: int, seen: dict, rule, where, kind: str, mark) -> str:
    from cgmand import origins

    if pid == 1 or seen["kernel_thread"]:
        return "=> never moved (PID 1 and kernel threads are left alone)"
    if rule is None:
        return "=> no rule matches: left where it is"
    if rule.ignore:
        return f"=> rule {rule.name!r} says ignore: left where it is"
    if not origins.allowed(kind, rule.origins):
        return (f"=> rule {rule.name!r} matches, but does not reach processes in a {kind} cgroup "
                f"(add origins = [\"{kind}\"] to the rule to allow it): left where it is")
    if mark is not None and mark.sticky and not rule.force:
        return f"=> rule {rule.name!r} matches, but the process is sticky (placed by hand): left where it is"
    return f"=> rule {rule.name!r}: placed in {where}"
