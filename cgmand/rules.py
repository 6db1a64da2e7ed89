"""Placement rules: `[[rule]]` tables, validated at load and matched against processes.

A rule names the processes it wants with match keys, ANDed; a key given a
list matches any of its values:

    [[rule]]
    name = "builds"
    group = "builders"                 # the process's gid or one of its groups
    comm = ["cc1*", "rustc", "ld*"]    # glob on /proc/PID/comm (15 characters at most)
    place = "batch/%u"                 # a declared group, or a template's pattern

Match keys: user/uid (effective uid), group/gid (effective gid or a
supplementary group), comm (glob), exe (path glob on /proc/PID/exe), cmdline
(regex searched in the arguments joined by spaces), args (an argument that
must appear among argv[1:]), parent (the parent's comm glob, or a table with
comm and/or exe), cgroup (path glob on the process's current cgroup: its
origin). In path globs `*` stays within one path segment and `**` crosses
them. User and group names are resolved when the file is read, never per
event.

Actions: place = "GROUP", or ignore = true (leave the process where it is and
stop looking). First match wins over one total order: priority (higher
first, default 0), then the file's name, then the rule's position in it.

This module is pure: ``parse`` turns one file's tables into Rules (with
errors located by file and key), ``decide`` runs them against a process whose
attributes a ``Facts`` reads on demand (kernel/procfacts.py on a real host).
"""

from __future__ import annotations

import fnmatch
import grp
import pwd
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from cgmand.errors import ConfigError, ProcessGone
from cgmand.values import show

MATCH_KEYS = ("user", "uid", "group", "gid", "comm", "exe", "cmdline", "args", "parent", "cgroup")
ACTION_KEYS = ("place", "ignore")
OTHER_KEYS = ("name", "priority", "force", "origins")
RULE_KEYS = MATCH_KEYS + ACTION_KEYS + OTHER_KEYS
PARENT_KEYS = ("comm", "exe")
# Where a process may be taken from only when a rule says so (docs/rules.md, "origin policy").
ORIGINS = ("services", "user-managers", "containers", "delegated", "anywhere")
COMM_MAX = 15  # TASK_COMM_LEN - 1: the kernel truncates longer names
TEMPLATE_FIELDS = {"%u": "user name", "%U": "uid", "%g": "group name", "%G": "gid"}


class Rule:
    """One validated rule. ``match``: key -> tuple of values, as compiled for matching:
    uids and gids as ints, globs and regexes as compiled patterns (with their text)."""

    __slots__ = ("name", "source", "position", "priority", "match", "place", "ignore", "force", "origins", "raw",
                 "tests")

    def __init__(self, name: str, source: str, position: int, priority: int, match: Dict[str, tuple],
                 place: Optional[str], ignore: bool, force: bool = False, origins: Tuple[str, ...] = (),
                 raw: Optional[dict] = None):
        self.name, self.source, self.position, self.priority = name, source, position, priority
        self.match, self.place, self.ignore, self.force, self.origins = match, place, ignore, force, origins
        self.raw = raw  # the table as written: what the config cache keeps
        # (key, values), cheapest key first: the order every check tries them in
        self.tests = tuple((key, match[key]) for key in sorted(match, key=COST.index))

    def order(self) -> Tuple[int, str, int]:
        """The total order rules are tried in: priority (higher first), file, position."""
        import os

        return (-self.priority, os.path.basename(self.source), self.position)

    def where(self) -> str:
        return f"{self.source}: rule[{self.position}]"

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, {self.where()})"


class Pattern:
    """A glob or regex as written, and its compiled form."""

    __slots__ = ("text", "regex")

    def __init__(self, text: str, regex: "re.Pattern[str]"):
        self.text, self.regex = text, regex

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return repr(self.text)


def path_glob(text: str) -> Pattern:
    """A path glob: `*` and `?` within one segment, `**` across segments (`/a/**/b` also
    matches `/a/b`), [...] classes with ranges and [!...] negation (never matching `/`).
    Raises ValueError for a glob that cannot be read."""
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if text.startswith("/**/", index):
            out.append("(?:/.*)?/")
            index += 4
            continue
        if text.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = text.find("]", index + 2 if text.startswith("[!", index) else index + 1)
            if end == -1:
                raise ValueError(f'unclosed "[" in {text!r}')
            body = text[index + 1:end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            if not body:
                raise ValueError(f'an empty "[]" class in {text!r} matches nothing')
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            if body.startswith("^"):
                body = "\\" + body
            out.append("[^/" + body + "]" if negated else "[" + body + "]")
            index = end + 1
            continue
        else:
            out.append(re.escape(char))
        index += 1
    try:
        return Pattern(text, re.compile("".join(out) + r"\Z", re.DOTALL))
    except re.error as err:  # a class such as [z-a]
        raise ValueError(f"invalid glob {text!r}: {err}") from None


def name_glob(text: str) -> Pattern:
    return Pattern(text, re.compile(fnmatch.translate(text)))


# --- parsing -------------------------------------------------------------------------------


def parse(tables: Any, source: str, errors: List[ConfigError]) -> List[Rule]:
    """The rules of one file's `[[rule]]` array; problems appended to ``errors``."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        errors.append(ConfigError(f"expected [[rule]] tables; found {show(tables)}", source=source, key="rule",
                                  reference="rule-invalid"))
        return []
    rules = []
    for position, table in enumerate(tables):
        rule = one(table, source, position, errors)
        if rule is not None:
            rules.append(rule)
    return rules


def one(table: Dict[str, Any], source: str, position: int, errors: List[ConfigError]) -> Optional[Rule]:
    path = f"rule[{position}]"
    before = len(errors)

    def fail(message: str, key: str = "", hint: Optional[str] = None, reference: str = "rule-invalid") -> None:
        errors.append(ConfigError(message, source=source, key=f"{path}.{key}" if key else path, hint=hint,
                                  reference=reference))

    for key in table:
        if key not in RULE_KEYS:
            import difflib

            close = difflib.get_close_matches(key, RULE_KEYS, n=1)
            fail(f'unknown key "{key}"', key, f'did you mean "{close[0]}"?' if close else
                 "expected one of " + ", ".join(RULE_KEYS), "key-unknown")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        fail(f"every rule needs a name (a non-empty string; it names the rule in logs and cgman explain); "
             f"found {show(name)}", "name")
    priority = table.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        fail(f"expected an integer; found {show(priority)}", "priority")
        priority = 0
    place, ignore = table.get("place"), table.get("ignore", False)
    if ignore not in (True, False):
        fail(f"expected true or false; found {show(ignore)}", "ignore")
    if place is not None and ignore is True:
        fail("a rule either places (place) or leaves alone (ignore = true), not both", hint="split it in two")
    elif place is None and ignore is not True:
        fail("a rule needs an action: place = \"GROUP\" or ignore = true")
    if place is not None:
        place = _place(place, fail)
    force = table.get("force", False)
    if force not in (True, False):
        fail(f"expected true or false; found {show(force)}", "force")
    origins = _origins(table.get("origins", []), fail)
    match: Dict[str, tuple] = {}
    for key in MATCH_KEYS:
        if key in table:
            values = _values(key, table[key], fail)
            if values:
                match[key] = values
    if not match and len(errors) == before:
        fail("a rule needs at least one match key (" + ", ".join(MATCH_KEYS) + ")",
             hint='to match every process, say so: cgroup = "/**"')
    if len(errors) > before:
        return None
    return Rule(name.strip(), source, position, priority, match, place, ignore is True, force is True, origins,
                table)


def _place(place: Any, fail: Callable[..., None]) -> Optional[str]:
    from cgmand.paths import validate_group_name

    if not isinstance(place, str) or not place.strip("/"):
        fail(f'expected a group, such as "batch" or "batch/%u"; found {show(place)}', "place")
        return None
    unknown = [field for field in re.findall(r"%.", place) if field not in TEMPLATE_FIELDS]
    if unknown:
        fail(f"unknown template field {unknown[0]} in {show(place)}", "place",
             "fields: " + ", ".join(f"{k} ({v})" for k, v in TEMPLATE_FIELDS.items()))
        return None
    try:
        validate_group_name(re.sub(r"%.", "x", place.strip("/")))
        return place.strip("/")
    except ValueError as err:
        fail(f"invalid group {show(place)}: {err}", "place")
        return None


def _origins(raw: Any, fail: Callable[..., None]) -> Tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    bad = [v for v in values if v not in ORIGINS]
    if bad:
        fail(f"unknown origin {show(bad[0])}", "origins", "origins: " + ", ".join(ORIGINS))
        return ()
    return tuple(values)


def _values(key: str, raw: Any, fail: Callable[..., None]) -> tuple:
    if key == "parent":
        return _parent(raw, fail)
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        fail("an empty list matches nothing", key)
        return ()
    out = []
    for value in values:
        try:
            out.append(_value(key, value))
        except ValueError as err:
            fail(str(err), key)
    return tuple(out)


def _value(key: str, value: Any) -> Any:
    if key in ("user", "uid", "group", "gid"):
        return _id(key, value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string; found {show(value)}")
    if key == "comm":
        literal = re.sub(r"\[[^]]*\]", "x", value).replace("*", "").replace("?", "x")
        if len(literal) > COMM_MAX:
            raise ValueError(f"{show(value)} can never match: the kernel keeps {COMM_MAX} characters of a "
                             "command name (match the full name with exe or cmdline)")
        return name_glob(value)
    if key in ("exe", "cgroup"):
        if not value.startswith(("/", "*")):
            raise ValueError(f'expected an absolute path glob, such as "/usr/bin/*"; found {show(value)}')
        return path_glob(value)
    if key == "cmdline":
        try:
            return Pattern(value, re.compile(value))
        except re.error as err:
            raise ValueError(f"invalid regular expression {show(value)}: {err}") from None
    return value  # args: an argument, exactly


def _id(key: str, value: Any) -> int:
    what = "user" if key in ("user", "uid") else "group"
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 2**32 - 1:
            return value
        raise ValueError(f"expected a {what} number from 0 to {2**32 - 2}; found {show(value)}")
    if isinstance(value, str) and value.isdigit():
        return _id(key, int(value))
    if key in ("uid", "gid") or not isinstance(value, str) or not value:
        raise ValueError(f"expected a {what} {'number' if key in ('uid', 'gid') else 'name or number'}; "
                         f"found {show(value)}")
    try:  # resolved now: never a name-service lookup per event
        return pwd.getpwnam(value).pw_uid if what == "user" else grp.getgrnam(value).gr_gid
    except KeyError:
        raise ValueError(f'unknown {what} "{value}"') from None


def _parent(raw: Any, fail: Callable[..., None]) -> tuple:
    table = {"comm": raw} if isinstance(raw, (str, list)) else raw
    if not isinstance(table, dict) or not table:
        fail(f'expected a comm glob or a table such as {{ comm = "sshd" }}; found {show(raw)}', "parent")
        return ()
    out = []
    for key, value in table.items():
        if key not in PARENT_KEYS:
            fail(f'unknown key "{key}"', f"parent.{key}", "expected comm or exe", "key-unknown")
            continue
        values = _values(key, value, lambda message, *_, **__: fail(message, f"parent.{key}"))
        if values:
            out.append((key, values))
    return tuple(out)


def order(rules: Sequence[Rule]) -> List[Rule]:
    return sorted(rules, key=Rule.order)


def duplicates(rules: Sequence[Rule]) -> List[ConfigError]:
    """Two rules with one name: explain and the logs could not tell them apart."""
    seen: Dict[str, Rule] = {}
    errors = []
    for rule in rules:
        first = seen.setdefault(rule.name, rule)
        if first is not rule:
            errors.append(ConfigError(f'rule name "{rule.name}" is used twice: also {first.where()}',
                                      source=rule.source, key=f"rule[{rule.position}].name",
                                      reference="rule-duplicate"))
    return errors


# --- matching ------------------------------------------------------------------------------


class Facts:
    """A process's attributes, read on demand (each at most once): the interface
    ``decide`` needs. A real one reads /proc (kernel/procfacts.py); tests give values."""

    def comm(self) -> str: raise NotImplementedError
    def exe(self) -> Optional[str]: raise NotImplementedError  # None: unreadable (a kernel thread, gone)
    def argv(self) -> List[str]: raise NotImplementedError
    def uid(self) -> int: raise NotImplementedError  # effective
    def gids(self) -> Tuple[int, ...]: raise NotImplementedError  # effective gid, then supplementary
    def cgroup(self) -> str: raise NotImplementedError
    def parent(self) -> Optional["Facts"]: raise NotImplementedError


def check(rule: Rule, facts: Facts) -> Tuple[bool, str]:
    """Does ``rule`` match? And why (or why not), for cgman explain. Keys are tried
    cheapest first; the first that fails decides."""
    reasons = []
    for key, values in rule.tests:
        ok, why = _check(key, values, facts, True)
        reasons.append(why)
        if not ok:
            return False, why
    return True, "; ".join(reasons)


def matches(rule: Rule, facts: Facts) -> bool:
    """``check`` without the reasons: what the engine asks thousands of times a second."""
    for key, values in rule.tests:
        if not _hit(key, values, facts):
            return False
    return True


def first(rules: Sequence[Rule], facts: Facts) -> Optional[Rule]:
    """The first rule that matches (``decide`` without the explanation), or None."""
    for rule in rules:
        for key, values in rule.tests:
            if not _hit(key, values, facts):
                break
        else:
            return rule
    return None


def _hit(key: str, values: tuple, facts: Facts) -> bool:
    """One key's verdict. The glob keys, by far the most used, take a short way: no
    reason built, no generator (tests check it agrees with _check for every key)."""
    if key == "comm" or key == "exe" or key == "cgroup":
        text = facts.comm() if key == "comm" else facts.exe() if key == "exe" else facts.cgroup()
        if text is None:
            return False
        for pattern in values:
            if pattern.regex.match(text):
                return True
        return False
    return _check(key, values, facts, False)[0]


# Cheapest (and most selective) first: comm is a 16-byte file; status, with the ids, ~1.5 KiB.
COST = ["comm", "uid", "user", "gid", "group", "cgroup", "exe", "parent", "args", "cmdline"]


def _check(key: str, values: tuple, facts: Facts, explain: bool) -> Tuple[bool, str]:
    """One key's verdict, and (``explain``) why: the sentence is built only when asked."""
    if key in ("user", "uid"):
        uid = facts.uid()
        ok = uid in values
        return ok, (f"uid {uid} {'is' if ok else 'is not'} {_list(values)}" if explain else "")
    if key in ("group", "gid"):
        gids = facts.gids()
        hit = [g for g in gids if g in values]
        if not explain:
            return bool(hit), ""
        return bool(hit), (f"group {hit[0]} is {_list(values)}" if hit else
                           f"groups {', '.join(map(str, gids)) or 'none'} include none of {_list(values)}")
    if key == "parent":
        parent = facts.parent()
        if parent is None:
            return False, "no parent to look at (gone, or none)"
        reasons = []
        try:  # best effort: a parent may exit, and its pid pass on, while it is looked at
            for sub, subvalues in values:
                ok, why = _check(sub, subvalues, parent, explain)
                if not ok:
                    return False, f"parent: {why}"
                reasons.append(why)
        except ProcessGone:
            return False, "the parent is gone"
        return True, ("parent: " + "; ".join(reasons) if explain else "")
    if key == "args":
        argv = facts.argv()[1:]
        hit = [v for v in values if v in argv]
        if not explain:
            return bool(hit), ""
        return bool(hit), (f"argument {hit[0]!r} is there" if hit else f"no argument is {_list(values)}")
    text = facts.comm() if key == "comm" else facts.exe() if key == "exe" else facts.cgroup() if key == "cgroup" \
        else " ".join(facts.argv())
    if text is None:
        return False, f"{key} cannot be read"
    search = key == "cmdline"
    hit = next((p for p in values if (p.regex.search(text) if search else p.regex.match(text))), None)
    if not explain:
        return hit is not None, ""
    return hit is not None, (f"{key} {text!r} matches {hit.text!r}" if hit else
                             f"{key} {text!r} does not match {_list(values)}")


def comm_filter(rules: Sequence[Rule]) -> Optional["re.Pattern[str]"]:
    """One pattern that every process some rule could match has a comm matching; None
    when a rule does not look at comm. Most execs match no rule: this answers for them
    with one read and one regex, whatever the number of rules."""
    if not rules or any("comm" not in rule.match for rule in rules):
        return None
    texts = dict.fromkeys(p.regex.pattern for rule in rules for p in rule.match["comm"])
    return re.compile("|".join(f"(?:{text})" for text in texts))


def _list(values: Sequence[Any], empty: str = "") -> str:
    shown = [repr(v.text) if isinstance(v, Pattern) else repr(v) if isinstance(v, str) else str(v) for v in values]
    if not shown:
        return empty
    return shown[0] if len(shown) == 1 else "any of " + ", ".join(shown)


class Decision:
    """What the rules say of one process: the rule that matched (None: none did), and,
    when asked for (explain), every rule's verdict in order."""

    __slots__ = ("rule", "verdicts")

    def __init__(self, rule: Optional[Rule], verdicts: List[Tuple[Rule, bool, str]]):
        self.rule, self.verdicts = rule, verdicts


def decide(rules: Sequence[Rule], facts: Facts, explain: bool = False) -> Decision:
    """The first rule (``rules`` in order) that matches; with ``explain``, the verdicts
    of all of them (those after the first match are still checked, and marked so)."""
    verdicts: List[Tuple[Rule, bool, str]] = []
    chosen = None
    if not explain:
        return Decision(first(rules, facts), verdicts)
    for rule in rules:
        ok, why = check(rule, facts)
        verdicts.append((rule, ok, why))
        if ok and chosen is None:
            chosen = rule
    return Decision(chosen, verdicts)


def destination(rule: Rule, facts: Facts) -> str:
    """The group a placing rule sends this process to, its template fields filled in
    from the process's effective user and group (names where they have one)."""
    place = rule.place or ""
    if "%" not in place:
        return place
    uid, gid = facts.uid(), facts.gids()[0]
    # A name that is not a valid path component ("john.doe": dots are the kernel's) is
    # replaced by the number, which always is.
    fields = {"%u": _usable(_user_name(uid), uid), "%U": str(uid), "%g": _usable(_group_name(gid), gid),
              "%G": str(gid)}
    return re.sub(r"%[uUgG]", lambda m: fields[m.group(0)], place)


def _usable(name: str, number: int) -> str:
    from cgmand.paths import validate_group_name

    try:
        validate_group_name(name)
        return name if "/" not in name else str(number)
    except ValueError:
        return str(number)


def _user_name(uid: int) -> str:
    """A uid's name, looked up once per uid for the daemon's life (or the id itself)."""
    if uid not in _NAMES:
        try:
            _NAMES[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _NAMES[uid] = str(uid)
    return _NAMES[uid]


def _group_name(gid: int) -> str:
    key = -1 - gid  # groups share the cache, on negative keys
    if key not in _NAMES:
        try:
            _NAMES[key] = grp.getgrgid(gid).gr_name
        except KeyError:
            _NAMES[key] = str(gid)
    return _NAMES[key]


_NAMES: Dict[int, str] = {}
