"""Read /etc/cgman/*.toml into a DesiredState.

``parse(text, source)`` is pure and returns a ``Fragment`` for one file;
``merge(fragments)`` combines the files of a drop-in directory in lexical
order; ``load(directory)`` does the reading. Every problem is collected and
reported together, each naming the file, the TOML key path, what was found and
what was expected. A configuration with any problem is rejected whole.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Dict, List, Optional, Set, Tuple

from cgmand import knobs
from cgmand.errors import ConfigError, ConfigErrors
from cgmand.model import (
    DesiredState,
    GroupSpec,
    ManagerSpec,
    Ownership,
    Perm,
    validate_group_name,
    validate_root,
)
from cgmand.values import ValueProblem, show


TOP_LEVEL = ("group", "manager", "rule", "template")
MANAGER_KEYS = ("root", "systemd_unit", "drift_interval", "log_format", "rescan_on_reload", "events_buffer")
LOG_FORMATS = ("auto", "console", "logfmt", "json")
PERM_KEYS = {"admin": ("uid", "gid", "dperm", "fperm"), "task": ("uid", "gid", "fperm")}


class Fragment:
    """What one file contributes."""

    # A plain class with __slots__, not a dataclass: importing dataclasses costs
    # ~14 ms of every command's start-up (docs/decisions.md).
    __slots__ = ("source", "groups", "manager", "errors", "broken", "rules", "templates")

    def __init__(self, source: str, groups: Optional[List[GroupSpec]] = None,
                 manager: Optional[Dict[str, Any]] = None, errors: Optional[List[ConfigError]] = None):
        self.source = source
        self.groups = [] if groups is None else groups
        self.manager = {} if manager is None else manager
        self.errors = [] if errors is None else errors
        self.broken: Set[str] = set()  # groups (as named in the tree) with an error of their own
        self.rules: List[Any] = []  # rules.Rule, in file order
        self.templates: List[GroupSpec] = []  # named by their pattern ("batch/%u")


class Memo:
    """What one load read and validated, for the next load of the same directory.

    cgmand re-reads the files on every edit; parsing and validating 1000 groups
    costs about 40 ms, most of a one-knob edit's budget. A file whose bytes
    are unchanged gives the same Fragment, and a group whose table is the same
    in the same file gives the same GroupSpec: both are functions of that text
    and of the user and group databases (perm names resolve to ids), so the
    memo is dropped when /etc/passwd or /etc/group change. A group is kept only
    if it validated cleanly: anything else is checked again."""

    __slots__ = ("files", "fresh", "databases")

    def __init__(self) -> None:
        # file -> (its bytes, its Fragment, {(name as written, repr(table)): GroupSpec})
        self.files: Dict[str, Tuple[Any, Fragment, Dict[Tuple[str, str], GroupSpec]]] = {}
        self.fresh: Dict[str, Tuple[Any, Fragment, Dict[Tuple[str, str], GroupSpec]]] = {}
        self.databases: Optional[tuple] = None

    def begin(self) -> None:
        from cgmand.configcache import DATABASES
        from cgmand.kernel.runfiles import stamp

        databases = tuple(stamp(p) for p in DATABASES)
        if databases != self.databases:
            self.files, self.databases = {}, databases
        self.fresh = {}

    def end(self) -> None:
        # Only what the files hold now: the memo never outgrows the configuration.
        self.files, self.fresh = self.fresh, {}


def load(directory: str, memo: Optional[Memo] = None) -> DesiredState:
    """Read every *.toml file of ``directory`` in lexical order. ``memo``: reuse the
    groups an earlier load validated (cgmand); see Memo."""
    if not os.path.isdir(directory):
        raise ConfigErrors([ConfigError(f"configuration directory {directory} does not exist",
                                        reference="config-dir-missing")])
    if memo is not None:
        memo.begin()
    names = sorted(n for n in os.listdir(directory) if n.endswith(".toml") and not n.startswith("."))
    fragments = []
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            continue
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            fragments.append(Fragment(path, errors=[ConfigError(
                f"cannot read the file: {err.strerror}", source=path, reference="config-unreadable")]))
            continue
        fragments.append(parse(data, path, memo))
    if memo is not None:
        memo.end()
    return merge(fragments)


def parse(data: "bytes | str", source: str, memo: Optional[Memo] = None) -> Fragment:
    """Parse one file's text. Never raises for bad content: errors go in the fragment.
    ``memo``: see Memo (the Fragment returned may then be the last load's: read only)."""
    known = memo.files.get(source) if memo is not None else None
    if known is not None and known[0] == data:
        memo.fresh[source] = known
        return known[1]
    if memo is None:
        return _parse(data, source, (None, None))
    groups: Dict[Tuple[str, str], GroupSpec] = {}
    fragment = _parse(data, source, (known[2] if known is not None else {}, groups))
    memo.fresh[source] = (data, fragment, groups)
    return fragment


def _parse(data: "bytes | str", source: str, memo: Tuple[Optional[dict], Optional[dict]]) -> Fragment:
    # Imported here: a cached config never needs it. tomli is the same parser as
    # the standard library's tomllib (same author), but its wheels are compiled
    # with mypyc: 1000 groups parse in about 21 ms instead of 48 (docs/decisions.md).
    try:
        import tomli as tomllib
    except ImportError:  # pragma: no cover - a system without the dependency installed
        import tomllib
    fragment = Fragment(source)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        document = tomllib.loads(text)
    except UnicodeDecodeError as err:
        fragment.errors.append(ConfigError(f"not UTF-8 text ({err.reason} at byte {err.start})",
                                           source=source, reference="toml-invalid"))
        return fragment
    except tomllib.TOMLDecodeError as err:
        fragment.errors.append(_toml_error(str(err), text, source))
        return fragment
    for key, value in document.items():
        if key == "group":
            _parse_groups(value, fragment, *memo)
        elif key == "manager":
            _parse_manager(value, fragment)
        elif key == "rule":
            from cgmand import rules

            fragment.rules = rules.parse(value, source, fragment.errors)
        elif key == "template":
            _parse_templates(value, fragment)
        else:
            fragment.errors.append(_unknown(key, TOP_LEVEL, source, key, "table"))
    return fragment


def merge(fragments: List[Fragment]) -> DesiredState:
    """Combine files in order: a group may be defined once; later manager keys win."""
    errors: List[ConfigError] = []
    groups: Dict[str, GroupSpec] = {}
    manager: Dict[str, Any] = {}
    broken: Set[str] = set()
    for fragment in fragments:
        errors.extend(fragment.errors)
        broken |= fragment.broken
        manager.update(fragment.manager)
        for group in fragment.groups:
            first = groups.get(group.name)
            if first is not None:
                broken.add(group.name)
                errors.append(ConfigError(
                    f"group is defined in two files: {first.source} and {group.source}",
                    source=group.source, key=_group_key(group.name), reference="group-duplicate",
                    hint="define each group in one file"))
                continue
            groups[group.name] = group
    rules, templates = _merge_rules(fragments, groups, errors)
    spec = ManagerSpec(root_set="root" in manager, **manager) if not errors or _in_groups(errors) else None
    if errors:
        partial = None
        if spec is not None:
            valid = {n: g for n, g in groups.items() if n not in broken}
            partial = DesiredState(spec, valid, tuple(f.source for f in fragments))
        raise ConfigErrors(errors, partial)
    return DesiredState(spec, groups, tuple(f.source for f in fragments), rules, templates)


def _in_groups(errors: List[ConfigError]) -> bool:
    """Is every error inside a group, rule or template table? Then every file was read
    and its [manager] keys were valid."""
    return all(e.key is not None and e.key.startswith(("group.", "rule[", "rule.", "template."))
               for e in errors)


def _parse_templates(table: Any, fragment: Fragment) -> None:
    """[template."batch/%u"]: the knobs of the groups rules make from that pattern."""
    from cgmand.rules import TEMPLATE_FIELDS

    if not isinstance(table, dict):
        fragment.errors.append(ConfigError(f'expected tables such as [template."batch/%u"]; found {show(table)}',
                                           source=fragment.source, key="template"))
        return
    for raw_name, body in table.items():
        path = f'template."{raw_name}"'
        fields = re.findall(r"%.", raw_name)
        if not fields or any(f not in TEMPLATE_FIELDS for f in fields):
            fragment.errors.append(ConfigError(
                "a template's name is a group pattern with %u, %U, %g or %G in it (a plain group is a "
                f"[group] table); found {show(raw_name)}", source=fragment.source, key=path,
                reference="template-invalid"))
            continue
        try:
            validate_group_name(re.sub(r"%.", "x", raw_name))
        except ValueError as err:
            fragment.errors.append(ConfigError(f"invalid group pattern: {err}", source=fragment.source, key=path,
                                               reference="group-name-invalid"))
            continue
        spec = _parse_group(raw_name.strip("/"), body, path, fragment)
        if spec is not None:
            fragment.templates.append(spec)


def _merge_rules(fragments: List[Fragment], groups: Dict[str, GroupSpec], errors: List[ConfigError]):
    """Every file's rules in the order they are tried, and the templates; what does not
    fit together across files (a rule's place that names nothing, a name used twice)
    is added to ``errors``."""
    from cgmand import rules as rulebook

    templates: Dict[str, GroupSpec] = {}
    for fragment in fragments:
        for template in fragment.templates:
            first = templates.setdefault(template.name, template)
            if first is not template:
                errors.append(ConfigError(f"template is defined in two files: {first.source} and {template.source}",
                                          source=template.source, key=f'template."{template.name}"',
                                          reference="group-duplicate"))
    ordered = rulebook.order([r for f in fragments for r in f.rules])
    errors.extend(rulebook.duplicates(ordered))
    for rule in ordered:
        if rule.place is None:
            continue
        if "%" in rule.place and rule.place not in templates:
            errors.append(ConfigError(
                f'place = "{rule.place}" names no template', source=rule.source, key=f"rule[{rule.position}].place",
                reference="rule-place-unknown", hint=f'declare it: [template."{rule.place}"] with its knobs'))
        elif "%" not in rule.place and rule.place not in groups:
            errors.append(ConfigError(
                f'place = "{rule.place}" names no declared group', source=rule.source,
                key=f"rule[{rule.position}].place", reference="rule-place-unknown",
                hint=f'declare it: [group."{rule.place}"] (rules place into groups cgman keeps)'))
    return tuple(ordered), templates


def _group_key(name: str) -> str:
    return f'group."{name}"'


def _unknown(key: str, known, source: str, path: str, what: str) -> ConfigError:
    import difflib  # only needed when something is wrong

    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f'did you mean "{close[0]}"?' if close else "expected one of " + ", ".join(known)
    return ConfigError(f'unknown {what} "{key}"', source=source, key=path, hint=hint,
                       reference="key-unknown")


def _parse_manager(table: Any, fragment: Fragment) -> None:
    if not isinstance(table, dict):
        fragment.errors.append(ConfigError(f"expected a table; found {show(table)}",
                                           source=fragment.source, key="manager"))
        return
    for key, value in table.items():
        path = f"manager.{key}"
        try:
            if key == "root":
                fragment.manager["root"] = validate_root(value)
            elif key == "systemd_unit":
                if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9:_.@\\-]+\.service", value):
                    raise ValueError('expected a service unit name such as "cgman-groups.service"')
                fragment.manager["systemd_unit"] = value
            elif key == "drift_interval":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86400:
                    raise ValueError("expected seconds between drift checks, from 0 (never) to 86400")
                fragment.manager["drift_interval"] = float(value)
            elif key == "log_format":
                if value not in LOG_FORMATS:
                    raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}")
                fragment.manager["log_format"] = value
            elif key == "events_buffer":
                from cgmand.values import Size

                try:
                    size = Size().parse(value)
                except ValueError:
                    size = None
                if not isinstance(size, int) or not 4096 <= size <= 1 << 30:
                    raise ValueError('expected the proc connector\'s receive buffer, from "4K" to "1G"')
                fragment.manager["events_buffer"] = size
            elif key == "rescan_on_reload":
                if value not in (True, False):
                    raise ValueError("expected true or false")
                fragment.manager["rescan_on_reload"] = value
            else:
                fragment.errors.append(_unknown(key, MANAGER_KEYS, fragment.source, path, "key"))
        except ValueError as err:
            fragment.errors.append(ConfigError(f"{err}; found {show(value)}", source=fragment.source,
                                               key=path, reference="value-invalid"))


def _toml_error(message: str, text: str, source: str) -> ConfigError:
    """tomllib's message, plus the line it points at and a hint for the usual knob-name clash."""
    at = re.search(r"at line (\d+)", message)
    lines = text.splitlines()
    found = ""
    if at and 0 < int(at.group(1)) <= len(lines):
        found = f"; the line reads: {lines[int(at.group(1)) - 1].strip()}"
    hint = None
    if message.startswith("Cannot overwrite a value"):
        hint = ('a dotted key cannot extend a key that already holds a value (cpu.weight = 100 and '
                'cpu.weight.nice = 5): quote the knob name, as in "cpu.weight.nice" = 5')
    return ConfigError(f"invalid TOML: {message}{found}", source=source, reference="toml-invalid", hint=hint)


def _parse_groups(table: Any, fragment: Fragment, known: Optional[dict] = None,
                  valid: Optional[dict] = None) -> None:
    """``known``: the groups this file validated last time, by (name as written,
    repr(table)); ``valid`` gets this time's (see Memo)."""
    if not isinstance(table, dict):
        fragment.errors.append(ConfigError(f'expected tables such as [group."web"]; found {show(table)}',
                                           source=fragment.source, key="group"))
        return
    seen: Dict[str, str] = {}
    for raw_name, body in table.items():
        if known:  # repr, not ==: 1, 1.0 and true are equal in Python, not in a knob
            text = (raw_name, repr(body))
            group = known.get(text)
            if group is not None and group.name not in seen:
                seen[group.name] = raw_name
                fragment.groups.append(group)
                valid[text] = group
                continue
        path = _group_key(raw_name)
        try:
            name = validate_group_name(raw_name)
        except ValueError as err:
            fragment.errors.append(ConfigError(f"invalid group name: {err}", source=fragment.source,
                                               key=path, reference="group-name-invalid"))
            continue
        if name in seen:  # "web" and "/web" in one file
            fragment.errors.append(ConfigError(f'same group as group."{seen[name]}"',
                                               source=fragment.source, key=path,
                                               reference="group-duplicate"))
            fragment.broken.add(name)
            continue
        seen[name] = raw_name
        errors_before = len(fragment.errors)
        group = _parse_group(name, body, path, fragment)
        if len(fragment.errors) > errors_before:
            fragment.broken.add(name)
        if group is not None:
            fragment.groups.append(group)
            if valid is not None and len(fragment.errors) == errors_before:
                valid[(raw_name, repr(body))] = group


def _parse_group(name: str, body: Any, path: str, fragment: Fragment) -> Optional[GroupSpec]:
    if not isinstance(body, dict):
        fragment.errors.append(ConfigError(f"expected a table of knobs; found {show(body)}",
                                           source=fragment.source, key=path))
        return None
    settings: Dict[str, Any] = {}
    controllers: Set[str] = set()
    perm = None
    for key, value in body.items():
        if key == "perm":
            perm = _parse_perm(value, f"{path}.perm", fragment)
        elif isinstance(value, dict) and not value:
            _controller_request(key, path, controllers, fragment)
        else:
            for knob, leaf in _flatten(key, value):
                _parse_knob(knob, leaf, path, settings, fragment)
    _check_spellings(settings, path, fragment)
    # Returned even when invalid, so a duplicate in another file is still reported.
    return GroupSpec(name, settings, frozenset(controllers), perm, fragment.source)


def _flatten(key: str, value: Any) -> List[Tuple[str, Any]]:
    """TOML dotted keys arrive nested: {"memory": {"swap": {"max": 1}}} -> memory.swap.max."""
    if isinstance(value, dict) and value:
        return [pair for sub, leaf in value.items() for pair in _flatten(f"{key}.{sub}", leaf)]
    return [(key, value)]


def _controller_request(key: str, path: str, controllers: Set[str], fragment: Fragment) -> None:
    canonical = knobs.CONTROLLER_ALIASES.get(key)
    if canonical is None:
        fragment.errors.append(_unknown(key, sorted(knobs.CONTROLLER_ALIASES), fragment.source,
                                        f"{path}.{key}", "controller"))
    else:
        controllers.add(canonical)


def _parse_knob(key: str, raw: Any, path: str, settings: Dict[str, Any], fragment: Fragment) -> None:
    where = f"{path}.{key}"
    if key in settings:  # TOML sees "cpu.weight" and cpu.weight as two different keys
        fragment.errors.append(ConfigError(f"{key} is set twice in this group", source=fragment.source,
                                           key=where, reference="knob-conflict"))
        return
    found = knobs.lookup(key)
    if found is None:
        if key in knobs.REFUSED:
            fragment.errors.append(ConfigError(f"{key} is not supported: {knobs.REFUSED[key]}",
                                               source=fragment.source, key=where,
                                               reference="knob-unsupported"))
            return
        close = knobs.suggest(key)
        fragment.errors.append(ConfigError(
            f'unknown knob "{key}"', source=fragment.source, key=where, reference="knob-unknown",
            hint=f'did you mean "{close}"?' if close else "see docs/config.md for the knobs cgman knows"))
        return
    _concept, _version, vtype = found
    try:
        settings[key] = vtype.parse(raw)
    except ValueProblem as problem:
        fragment.errors.append(ConfigError(str(problem), source=fragment.source, key=where,
                                           reference="value-invalid"))


def _check_spellings(settings: Dict[str, Any], path: str, fragment: Fragment) -> None:
    """Two spellings of one concept (cpu.shares and cpu.weight) would fight: refuse."""
    by_concept: Dict[str, List[Tuple[str, int]]] = {}
    for key in settings:
        concept, version, _ = knobs.lookup(key)
        by_concept.setdefault(concept.name, []).append((key, version))
    for name, spelled in by_concept.items():
        if len({version for _, version in spelled}) > 1:
            keys = " and ".join(key for key, _ in spelled)
            fragment.errors.append(ConfigError(
                f"{keys} set the same thing ({name}); keep one spelling", source=fragment.source,
                key=path, reference="knob-conflict"))
    for one, other in knobs.OVERLAPPING:
        if one in by_concept and other in by_concept:
            keys = " and ".join(key for key, _ in by_concept[one] + by_concept[other])
            fragment.errors.append(ConfigError(
                f"{keys} set the same kernel value (the last write would win); keep one",
                source=fragment.source, key=path, reference="knob-conflict"))


def _parse_perm(raw: Any, path: str, fragment: Fragment) -> Optional[Perm]:
    if not isinstance(raw, dict):
        fragment.errors.append(ConfigError(f"expected a table with admin and/or task; found {show(raw)}",
                                           source=fragment.source, key=path))
        return None
    parts: Dict[str, Ownership] = {}
    for section, body in raw.items():
        where = f"{path}.{section}"
        if section not in PERM_KEYS:
            fragment.errors.append(_unknown(section, PERM_KEYS, fragment.source, where, "key"))
        elif not isinstance(body, dict):
            fragment.errors.append(ConfigError(f"expected a table such as {{ uid = \"root\" }}; "
                                               f"found {show(body)}", source=fragment.source, key=where))
        else:
            parts[section] = _parse_ownership(body, section, where, fragment)
    return Perm(**parts)


def _parse_ownership(body: Dict[str, Any], section: str, path: str, fragment: Fragment) -> Ownership:
    fields: Dict[str, Optional[int]] = {}
    for key, value in body.items():
        where = f"{path}.{key}"
        if key == "dperm" and section == "task":
            fragment.errors.append(ConfigError("dperm belongs in perm.admin: the task section owns "
                                               "files, not the directory", source=fragment.source,
                                               key=where, reference="key-unknown"))
            continue
        if key not in PERM_KEYS[section]:
            fragment.errors.append(_unknown(key, PERM_KEYS[section], fragment.source, where, "key"))
            continue
        try:
            fields[key] = _mode(value) if key.endswith("perm") else _id(key, value)
        except ValueError as err:
            fragment.errors.append(ConfigError(str(err), source=fragment.source, key=where,
                                               reference="value-invalid"))
    return Ownership(**fields)


def _mode(value: Any) -> int:
    # TOML cannot tell 0o664 from 436, so modes are strings, read as octal like chmod.
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3,4}", value):
        return int(value, 8)
    raise ValueError(f'expected an octal mode as a string, such as "0664"; found {show(value)}')


def _id(kind: str, value: Any) -> int:
    """uid/gid from a number or a name, resolved now (names never change per write)."""
    what = "user" if kind == "uid" else "group"
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]+", value):
        number = int(value)
    if number is not None:
        # (uid_t)-1 means "unchanged" to chown(2); ids are 32-bit.
        if not 0 <= number < 2**32 - 1:
            raise ValueError(f"expected a {what} number from 0 to {2**32 - 2}; found {show(value)}")
        return number
    if isinstance(value, str) and value:
        try:
            return pwd.getpwnam(value).pw_uid if kind == "uid" else grp.getgrnam(value).gr_gid
        except KeyError:
            raise ValueError(f'unknown {what} "{value}"') from None
    raise ValueError(f"expected a {what} name or number; found {show(value)}")
