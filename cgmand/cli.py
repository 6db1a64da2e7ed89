"""The `cgman` command line: argument parsing and the mapping of errors to exit codes."""

from __future__ import annotations

import argparse
import sys

from cgmand import __version__
from cgmand.errors import CgmanError, ExitCode
from cgmand.roots import Roots

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


def _root_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """Options accepted before and after the subcommand."""
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
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    roots = Roots(args.config_dir, args.cgroup_root, args.proc_root, args.run_root)
    if args.verbose:
        from cgmand import log

        log.configure("debug" if args.verbose > 1 else "info", args.log_format)
    from cgmand import commands

    run = {"check": commands.check, "plan": commands.plan, "apply": commands.apply,
           "status": commands.show_status}[args.command]
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
    sys.exit(main())
