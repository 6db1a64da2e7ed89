"""The desired state: what the configuration asks for, validated and typed.

Both front ends (the TOML files, and later the cgconfig.conf importer) produce a
``DesiredState``. These are immutable ``collections.namedtuple`` records, not
pydantic models (the CLI builds one on every run and pydantic's import plus
schema build costs more than the whole unchanged re-apply budget) nor
dataclasses (importing dataclasses pulls in inspect: ~14 ms of start-up); see
docs/decisions.md.

Pure module: no I/O.
"""

from __future__ import annotations

from collections import namedtuple
from types import MappingProxyType
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Tuple

# The path rules live in paths.py (cgman exec checks a -g path without these
# records); they are part of this module's interface too.
from cgmand.paths import (  # noqa: F401
    RESERVED_ANY,
    RESERVED_TOP,
    ancestors,
    depth,
    join,
    parent_of,
    validate_group_name,
    validate_root,
)

DEFAULT_ROOT = "/cgman"
DEFAULT_SYSTEMD_UNIT = "cgman-groups.service"


# The records are namedtuples (immutable, compared by value), not dataclasses:
# see the module docstring. Fields and defaults are listed above each one.

# uid, gid and mode for a cgroup's directory or files (cgconfig's perm block):
#   uid: Optional[int] = None
#   gid: Optional[int] = None
#   dperm: Optional[int] = None -- directory mode (admin only)
#   fperm: Optional[int] = None -- file mode, masked by the file's owner bits like cgconfig
Ownership = namedtuple("Ownership", "uid gid dperm fperm", defaults=(None, None, None, None))

#   admin: Ownership = Ownership() -- the directory and its files
#   task: Ownership = Ownership() -- the files that take processes
Perm = namedtuple("Perm", "admin task", defaults=(Ownership(), Ownership()))

#   name: str -- relative to cgman's base, "web/frontend"
#   settings: Mapping[str, Any] -- config key as written -> typed value, in file order
#   controllers: FrozenSet[str] = frozenset() -- canonical, from empty controller tables
#   perm: Optional[Perm] = None
#   source: str = "<memory>"
GroupSpec = namedtuple("GroupSpec", "name settings controllers perm source",
                       defaults=(frozenset(), None, "<memory>"))

#   root: str = DEFAULT_ROOT -- base of cgman's groups when systemd is not PID 1
#   systemd_unit: str = DEFAULT_SYSTEMD_UNIT -- the delegated unit when systemd is PID 1
#   root_set: bool = False -- was root written in a file? (ignored under systemd: warn)
#   drift_interval: float = 60 -- cgmand: seconds between drift checks (0: never)
#   log_format: str = "auto" -- cgmand: console on a tty, else logfmt; or "logfmt", "json", "console"
#   rescan_on_reload: bool = False -- cgmand: apply a reloaded rule set to running processes too
#   events_buffer: int = 8 MiB -- cgmand: the proc connector socket's receive buffer (it grows on overflow)
ManagerSpec = namedtuple("ManagerSpec",
                         "root systemd_unit root_set drift_interval log_format rescan_on_reload events_buffer",
                         defaults=(DEFAULT_ROOT, DEFAULT_SYSTEMD_UNIT, False, 60.0, "auto", False, 8 << 20))

#   manager: ManagerSpec = ManagerSpec()
#   groups: Mapping[str, GroupSpec] = {} -- the default is a read-only empty mapping
#   sources: Tuple[str, ...] = ()
#   rules: Tuple[rules.Rule, ...] = () -- in the order they are tried (cgmand/rules.py)
#   templates: Mapping[str, GroupSpec] = {} -- by pattern ("batch/%u"): groups rules make on demand
_DesiredStateFields = namedtuple("DesiredState", "manager groups sources rules templates",
                                 defaults=(ManagerSpec(), MappingProxyType({}), (), (), MappingProxyType({})))


class DesiredState(_DesiredStateFields):
    __slots__ = ()  # a namedtuple with a method (start-up cost: see the module docstring)

    def group_names(self) -> Tuple[str, ...]:
        return tuple(self.groups)
