"""The `cgman` command line: argument parsing and the mapping of errors to exit codes."""

from __future__ import annotations

import sys

from cgmand import __version__
from cgmand.errors import CgmanError, ExitCode
from cgmand.roots import Roots

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import List, Optional


def _root_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """Options accepted before and after the subcommand."""
    import argparse
    d = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--config-dir", metavar="DIR", default=d("/etc/cgman"),
                        help="configuration directory (default: /etc/cgman)")
    parser.add_argument("--cgroup-root", metavar="DIR", default=d(None),
                        help="where the cgroup filesystems are (default: as mountinfo says)")
    parser.add_argument("--proc-root", metavar="DIR", default=d("/proc"), help="procfs (default: /proc)")
    parser.add_argument("--run-root", metavar="DIR", default=d("/run"),
                        help="runtime directory; cgman keeps <DIR>/cgman (default: /run)")
    parser.add_argument("-v", "--verbose", action="count", default=d(0),
                        help="show every action; log events to stderr (-vv: debug)")
    parser.add_argument("--log-format", choices=("auto", "console", "logfmt", "json"), default=d("auto"),
                        help="log format with -v (default: console on a tty, else logfmt)")


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="cgman", description="Keep the kernel's control groups equal to /etc/cgman/*.toml.")
    parser.add_argument("--version", action="version", version=f"cgman {__version__}")
    _root_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _root_options(common, defaults=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = sub.add_parser("check", parents=[common], help="validate the configuration (exit 0, or 78)")
    check.add_argument("--no-host", action="store_true",
                       help="validate the files only, not whether this host can honour them")
    check.add_argument("--json", action="store_true", help="machine-readable output")

    plan = sub.add_parser("plan", parents=[common], help="show what apply would change")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 3 when the kernel differs from the configuration")
    plan.add_argument("--force", action="store_true", help="plan as apply --force would")

    apply = sub.add_parser("apply", parents=[common], help="make the kernel match the configuration")
    apply.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    apply.add_argument("--json", action="store_true", help="machine-readable report")
    apply.add_argument("--force", action="store_true",
                       help="allow lowering a memory limit below current usage (the kernel "
                            "reclaims, and on cgroup v2 may OOM-kill in the group)")

    status = sub.add_parser("status", parents=[common], help="managed groups, their settings and usage")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser("daemon", parents=[common],
                   help="run cgmand in the foreground: apply, then keep the kernel in sync (sd_notify)")
    reload = sub.add_parser("reload", parents=[common],
                            help="ask the running cgmand to reload the configuration, and wait for it")
    reload.add_argument("--json", action="store_true", help="machine-readable outcome")
    from cgmand.verbs import importing

    importing.add_parser(sub, common)
    # Listed for --help; these verbs never reach argparse (_own_parser).
    for verb, text in (
            ("exec", "run a command in a group: exec -g CONTROLLERS:PATH COMMAND ARG..."),
            ("classify", "move processes into a group: classify -g CONTROLLERS:PATH PID..."),
            ("create", "create groups outside the configuration: create [-a U:G] -g CONTROLLERS:PATH"),
            ("delete", "remove groups, their processes moving to the parent: delete [-r] CTRL:PATH"),
            ("set", "set knobs of existing groups, as in /etc/cgman: set -r KNOB=VALUE GROUP..."),
            ("get", "a group's values as the kernel has them: get [-r NAME] [-n] [-v] GROUP..."),
            ("list", "cgman's groups as a tree, with their controllers: list [--json] [GROUP...]"),
            ("explain", "what the rules see of a process and would do with it: explain [--json] PID")):
        sub.add_parser(verb, help=text, add_help=False)
    return parser


# The unchanged re-apply is a ~100 ms command, and importing argparse (with re
# and enum) costs ~15 ms of it. plan and apply with only these long options are
# read here; anything else (-v, --help, --opt=value, abbreviations, mistakes)
# goes to argparse, which alone decides and reports. tests/unit/test_cli.py
# checks both parsers agree.
_QUICK_FLAGS = {"plan": ("--json", "--detailed-exitcode", "--force"), "apply": ("--dry-run", "--json", "--force")}
_QUICK_ROOTS = {"--config-dir": "config_dir", "--cgroup-root": "cgroup_root", "--proc-root": "proc_root",
                "--run-root": "run_root"}


def quick_parse(argv: List[str]) -> Optional[object]:
    """The namespace argparse would build, for the simple plan/apply command lines; else None."""
    from types import SimpleNamespace

    values = {"config_dir": "/etc/cgman", "cgroup_root": None, "proc_root": "/proc", "run_root": "/run"}
    command, flags, index = None, set(), 0
    while index < len(argv):
        arg = argv[index]
        if arg in _QUICK_ROOTS:
            if index + 1 == len(argv) or argv[index + 1].startswith("-"):
                return None
            values[_QUICK_ROOTS[arg]] = argv[index + 1]
            index += 2
            continue
        if command is None and arg in _QUICK_FLAGS:
            command = arg
        elif command is not None and arg in _QUICK_FLAGS[command]:
            flags.add(arg)
        else:
            return None
        index += 1
    if command is None:
        return None
    options = {flag[2:].replace("-", "_"): flag in flags for flag in _QUICK_FLAGS[command]}
    return SimpleNamespace(command=command, verbose=0, log_format="auto", **values, **options)


# Verbs that parse their own options (getopt-style, as libcgroup's tools), reached
# without argparse: verb -> module in cgmand/verbs.
_OWN_PARSERS = {"exec": "execute", "classify": "classify", "list": "listing", "get": "get", "set": "setting",
                "delete": "delete", "create": "create", "explain": "explain"}


def _own_parser(argv: List[str]) -> Optional[int]:
    """Run exec (and the like) if that is the command: root options, the verb, root options."""
    values = {"config_dir": "/etc/cgman", "cgroup_root": None, "proc_root": "/proc", "run_root": "/run"}
    before = _take_roots(argv, values)
    if not before or before[0] not in _OWN_PARSERS:
        return None
    if before[0] == "exec":  # the one that starts in loops: no importlib (~0.3 ms)
        from cgmand.verbs import execute as module
    else:
        import importlib

        module = importlib.import_module(f"cgmand.verbs.{_OWN_PARSERS[before[0]]}")
    rest = _take_roots(before[1:], values)
    try:
        return int(module.main(rest, Roots(**values)))
    except BrokenPipeError:  # `cgman list | head`: the reader left
        return int(ExitCode.FAILED)


def _take_roots(argv: List[str], values: dict) -> List[str]:
    """Read leading root options (--run-root DIR or --run-root=DIR) into ``values``; the rest."""
    index = 0
    while index < len(argv):
        name, eq, value = argv[index].partition("=")
        if name not in _QUICK_ROOTS:
            break
        if not eq:
            if index + 1 == len(argv):
                break
            value = argv[index + 1]
            index += 1
        values[_QUICK_ROOTS[name]] = value
        index += 1
    return argv[index:]


def _own_after_other_options(args: object, roots: Roots) -> int:
    from cgmand.verbs import UsageError

    raise UsageError(f"{getattr(args, 'command')} takes only --config-dir, --cgroup-root, --proc-root and "
                     "--run-root before it", hint="cgman exec -g CONTROLLERS:PATH COMMAND ARG...")


def _import(args: object, roots: Roots) -> int:
    from cgmand.verbs import importing

    return importing.run(args, roots)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own = _own_parser(argv)
    if own is not None:
        return own
    args = quick_parse(argv) or build_parser().parse_args(argv)
    roots = Roots(args.config_dir, args.cgroup_root, args.proc_root, args.run_root)
    if args.verbose:
        from cgmand import log

        log.configure("debug" if args.verbose > 1 else "info", args.log_format)
    from cgmand import commands

    run = {"check": commands.check, "plan": commands.plan, "apply": commands.apply,
           "status": commands.show_status, "daemon": commands.daemon, "reload": commands.reload,
           "import": _import,
           **dict.fromkeys(_OWN_PARSERS, _own_after_other_options)}[args.command]
    try:
        return int(run(args, roots))
    except CgmanError as err:
        if getattr(args, "json", False):
            import json

            json.dump({"error": err.as_dict()}, sys.stdout, indent=2)
            sys.stdout.write("\n")
        print(f"cgman: {err.render()}", file=sys.stderr)
        return int(err.exit_code)
    except BrokenPipeError:
        return int(ExitCode.FAILED)


def entry() -> None:
    # A cgman command lives well under a second and builds tens of thousands of
    # small objects (layout nodes, actions) that form no cycles worth
    # collecting: the cyclic GC's passes cost ~15 % of a 1000-group plan. Only
    # here, in the console script; the long-running daemon keeps it.
    import gc

    gc.disable()
    sys.exit(main())
