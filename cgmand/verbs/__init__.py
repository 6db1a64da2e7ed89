"""The imperative verbs, libcgroup's tools under one command: exec, classify (and, next,
create, delete, set, get, list). exec and classify run without argparse, structlog or
the config parser when cgman's kept views are current: they start often.

``options`` reads their command lines the way libcgroup's tools do (getopt, options
first, stopping at the first argument that is not one)."""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Callable, Dict, List, Optional, Tuple

from cgmand.errors import CgmanError, ExitCode


class UsageError(CgmanError):
    reference = "usage"
    exit_code = ExitCode.USAGE


class Help(Exception):
    """-h or --help was given."""


def options(argv: List[str], flags: Dict[str, str]) -> Tuple[List[str], set, List[str]]:
    """(-g values, the flags given by their canonical name, the arguments after the options).
    ``flags`` maps each accepted spelling ("-s", "--sticky") to its canonical name."""
    groups: List[str] = []
    given: set = set()
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if arg in ("-g", "--group"):
            if index + 1 == len(argv):
                raise UsageError(f"{arg} needs CONTROLLERS:PATH")
            groups.append(argv[index + 1])
            index += 2
            continue
        if arg.startswith("--group="):
            groups.append(arg[len("--group="):])
        elif arg.startswith("-g") and len(arg) > 2:
            groups.append(arg[2:])
        elif arg in flags:
            given.add(flags[arg])
        elif arg in ("-h", "--help"):
            raise Help()
        elif arg.startswith("-") and arg != "-" and not arg[1:].isdigit():
            raise UsageError(f"unknown option {arg}")
        else:
            break
        index += 1
    return groups, given, argv[index:]


def guarded(verb: str, usage: str, work: Callable[[], int], failure: Optional[int] = None) -> int:
    """``work()``'s exit status; the usage after -h (0); a refusal printed as
    "cgman VERB: ..." and its exit status (or ``failure``)."""
    try:
        return work()
    except Help:
        print(usage)
        return ExitCode.OK
    except CgmanError as err:
        print(f"cgman {verb}: {err.render()}", file=sys.stderr)
        return err.exit_code if failure is None else failure

