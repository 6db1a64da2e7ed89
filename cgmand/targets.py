"""`-g CONTROLLERS:PATH`, as libcgroup's tools take it, and the cgroups it names on this host.

``parse`` reads one option; ``resolve`` turns options into the (hierarchy,
cgroup) pairs a process must join: the hierarchy of each controller named
(``*``: every hierarchy the group exists in, where libcgroup requires it in
all of them; nothing before the colon: the cgroup2 mount, the v2 form), then the hierarchies every group is mirrored in (the cgroup2 mount,
and systemd's name=systemd tracking hierarchy when systemd is PID 1;
hierarchy.Host.mirrors; with a group per controller, the first -g's group).
Group paths are relative to cgman's base, and a leading "/" means the same
(libcgroup's habit); "/" alone is the base itself.

Unlike libcgroup, the path is everything after the *first* colon (libcgroup
cuts at a second one and drops the rest, research/libcgroup.md §3.1), and an
unknown controller or a controller this host lacks is an error.

Pure: no I/O.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import FrozenSet, List, Optional, Sequence, Tuple

    from cgmand.hierarchy import Hierarchy, Host  # or kernel/execview's Place and View

from cgmand.controllers import CONTROLLER_ALIASES, CONTROLLERS
from cgmand.errors import CgmanError, ExitCode

ALL = "*"


class SpecError(CgmanError):
    """A -g option that cannot be read, or names what this host does not have."""

    reference = "group-spec-invalid"
    exit_code = ExitCode.USAGE


class Spec:
    """One -g option: canonical controllers (None for "*"), and the group ("" for the base)."""

    __slots__ = ("controllers", "group", "text")

    def __init__(self, controllers: Optional[FrozenSet[str]], group: str, text: str):
        self.controllers = controllers
        self.group = group
        self.text = text


class Target:
    """A cgroup to join: its hierarchy, its path there, and the v2 controllers asked of it
    (which must be enabled for it: cgroup.controllers). ``optional``: joined only if the
    group exists there (a hierarchy of "*", a mirror without systemd)."""

    __slots__ = ("hierarchy", "path", "v2_controllers", "optional", "spec", "mirror")

    def __init__(self, hierarchy: Hierarchy, path: str, v2_controllers: FrozenSet[str], optional: bool,
                 spec: str, mirror: bool = False):
        self.hierarchy = hierarchy
        self.path = path
        self.v2_controllers = v2_controllers
        self.optional = optional
        self.spec = spec
        self.mirror = mirror  # joined because every group is mirrored there


def parse(text: str) -> Spec:
    head, colon, group = text.partition(":")
    if not colon:
        raise SpecError(f'-g {text}: expected CONTROLLERS:PATH, such as "cpu,memory:web" '
                        '(or ":web", cgroup v2 with no controller named)')
    names = [name for name in head.split(",") if name]
    controllers: Optional[FrozenSet[str]]
    if names == [ALL]:
        controllers = None
    else:
        unknown = [name for name in names if name not in CONTROLLER_ALIASES]
        if unknown:
            raise SpecError(f'-g {text}: unknown controller "{unknown[0]}"',
                            hint="controllers: " + ", ".join(sorted(CONTROLLER_ALIASES)) + ", or *")
        controllers = frozenset(CONTROLLER_ALIASES[name] for name in names)
    return Spec(controllers, _group(text, group), text)


def _group(text: str, group: str) -> str:
    from cgmand.paths import validate_group_name

    if group.strip("/") == "":
        return ""  # the base of cgman's tree
    try:
        return validate_group_name(group.rstrip("/"))  # "web/" as libcgroup takes it
    except ValueError as err:
        raise SpecError(f"-g {text}: invalid group path: {err}") from None


def resolve(host: Host, specs: Sequence[Spec], mirrors: bool = True) -> List[Target]:
    """The cgroups to join, in the order asked, mirrors last (``mirrors``); each hierarchy once."""
    from cgmand.paths import join

    chosen: List[Target] = []
    for spec in specs:
        for hierarchy, v2 in _hierarchies(host, spec):
            path = join(host.base, spec.group) if spec.group else host.base
            _add(chosen, Target(hierarchy, path, v2, spec.controllers is None, spec.text))
    # With a group per controller (-g cpu:a -g memory:b), mirrors get the first's. Without
    # systemd a mirror the group lacks (made by hand in some hierarchies) is skipped;
    # under systemd the tracking hierarchy decides whose process it is: required.
    for mirror in host.mirrors() if mirrors else ():
        if chosen and not any(t.hierarchy == mirror for t in chosen):
            chosen.append(Target(mirror, chosen[0].path, frozenset(), host.systemd is None, chosen[0].spec,
                                 mirror=True))
    return chosen


def _hierarchies(host: Host, spec: Spec) -> List[Tuple[Hierarchy, FrozenSet[str]]]:
    if spec.controllers is None:  # "*": every hierarchy cgman knows here
        return [(h, frozenset()) for h in host.hierarchies]
    if not spec.controllers:
        unified = host.unified
        if unified is None:
            raise SpecError(f"-g {spec.text}: no controller named, and this host has no cgroup2 "
                            "hierarchy", hint="name the controllers, as in cpu,memory:GROUP")
        return [(unified, frozenset())]
    out: List[Tuple[Hierarchy, FrozenSet[str]]] = []
    for name in sorted(spec.controllers):
        home = host.home(name)
        if home is None:
            refusal = CONTROLLERS[name].v2_refusal
            raise SpecError(f"-g {spec.text}: the {name} controller is not available on this host"
                            + (f" ({refusal})" if refusal else ""))
        v2 = frozenset({CONTROLLERS[name].v2}) if home.version == 2 and CONTROLLERS[name].v2 else frozenset()
        known = next((i for i, (h, _) in enumerate(out) if h == home), None)
        if known is None:
            out.append((home, v2))
        else:
            out[known] = (home, out[known][1] | v2)
    return out


def _add(chosen: List[Target], target: Target) -> None:
    for index, other in enumerate(chosen):
        if other.hierarchy == target.hierarchy:
            if other.path != target.path:
                raise SpecError(f"-g {other.spec} and -g {target.spec} put the process in two cgroups "
                                f"of the {target.hierarchy.key} hierarchy; a process is in one per hierarchy")
            chosen[index] = Target(other.hierarchy, other.path, other.v2_controllers | target.v2_controllers,
                                   other.optional and target.optional, other.spec)
            return
    chosen.append(target)
