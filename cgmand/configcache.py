"""A cache of the validated configuration, so an unchanged config is not parsed again.

Parsing and validating 1000 groups of TOML costs about 50 ms (even with the
compiled tomli), half of an unchanged re-apply's budget. The cache holds the
DesiredState as plain data (marshal: no code runs when it is read) in
<run_root>/cgman/config.cache, keyed by everything the result depends on:
each config file's name, size, inode and modification times, the user and
group databases (names are resolved to ids at load time), and cgman's own
parsing code. Any difference, or any doubt about the file, means a full parse.
Only valid configurations are cached, and only once their files are a few
seconds old. Names served by NSS sources other than /etc/passwd and
/etc/group (LDAP, sssd) are resolved again only when a config file changes;
`cgman check` always resolves them.
"""

from __future__ import annotations

import marshal
import os

from cgmand.kernel.runfiles import read_trusted, stamp, write_atomically

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, List, Optional, Tuple

    from cgmand import config
    from cgmand.model import DesiredState, Ownership

FORMAT = 3  # 2: [manager] drift_interval, log_format; 3: rules and templates
_CODE = ("config.py", "knobs.py", "values.py", "model.py", "configcache.py", "rules.py")
DATABASES = ("/etc/passwd", "/etc/group")  # perm names resolve through these


def key(directory: str) -> Optional[Tuple[Any, ...]]:
    """What the parsed result depends on; None if the directory cannot be listed."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml") and not n.startswith("."))
    except OSError:
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    return (FORMAT, os.path.abspath(directory),
            tuple((n, stamp(os.path.join(directory, n))) for n in names),
            tuple(stamp(p) for p in DATABASES),
            tuple(stamp(os.path.join(here, f)) for f in _CODE))


def _to_data(state: DesiredState) -> Any:
    m = state.manager
    # Rules as written (plain data: compiled patterns do not marshal), read again on load.
    rules = [(r.source, r.position, r.raw) for r in state.rules]
    return ((m.root, m.systemd_unit, m.root_set, m.drift_interval, m.log_format, m.rescan_on_reload,
             m.events_buffer),
            _groups(state.groups),
            state.sources, rules, _groups(state.templates))


def _groups(groups: Any) -> list:
    return [(g.name, tuple(g.settings.items()), tuple(sorted(g.controllers)),
             None if g.perm is None else (_own(g.perm.admin), _own(g.perm.task)), g.source)
            for g in groups.values()]


def _own(o: Ownership) -> Tuple[Optional[int], ...]:
    return (o.uid, o.gid, o.dperm, o.fperm)


def _from_data(data: Any) -> DesiredState:
    from cgmand.model import DesiredState, GroupSpec, ManagerSpec, Ownership, Perm

    manager, groups, sources, rules, templates = data

    def specs(rows: Any) -> dict:
        out = {}
        for name, settings, controllers, perm, source in rows:
            permission = None if perm is None else Perm(Ownership(*perm[0]), Ownership(*perm[1]))
            out[name] = GroupSpec(name, dict(settings), frozenset(controllers), permission, source)
        return out

    compiled: tuple = ()
    if rules:
        from cgmand import rules as rulebook

        errors: list = []
        compiled = tuple(rulebook.one(raw, source, position, errors) for source, position, raw in rules)
        if errors or None in compiled:
            raise ValueError("the cached rules no longer validate")  # the caller parses the files instead
    return DesiredState(ManagerSpec(*manager), specs(groups), tuple(sources), compiled, specs(templates))


def load(directory: str, cache_dir: Optional[str], memo: Optional[config.Memo] = None) -> DesiredState:
    """config.load(directory), served from the cache in ``cache_dir`` when it is current.
    With a ``memo`` (cgmand, which reloads on every edit), always parsed through the
    memo, which is what keeps the next edit cheap; the cache is still written."""
    if cache_dir is None:
        from cgmand import config

        return config.load(directory, memo)
    wanted = key(directory)
    path = os.path.join(cache_dir, "config.cache")
    cached = _read(path) if memo is None else None
    if wanted is not None and cached is not None and cached[0] == wanted:
        try:
            return _from_data(cached[1])
        except (TypeError, ValueError):
            pass  # a cache from another layout of the data: parse instead
    from cgmand import config  # only now: it imports the knob catalogue (~10 ms)

    state = config.load(directory, memo)
    if wanted is not None and key(directory) == wanted and settled(wanted):  # unchanged while we parsed
        _write(path, (wanted, _to_data(state)))
    return state


_warned = False  # once per command, however often a verb reads the configuration


def warned() -> bool:
    """Has for_verbs gone on with a configuration that is invalid in some groups?"""
    return _warned


def for_verbs(roots: Any) -> DesiredState:
    """The configuration as the imperative verbs (exec, classify, set, ...) use it. When
    it is invalid only inside some groups, its [manager] keys were read whole: the
    verbs go on with it and the valid groups, and say so on stderr. A mistake in one
    group must not stop every `cgman exec` into the others (cgmand, likewise, keeps
    running). Anything else invalid raises ConfigErrors."""
    from cgmand.errors import ConfigErrors

    try:
        return load(roots.config_dir, os.path.join(roots.run_root, "cgman"))
    except ConfigErrors as err:
        if err.partial is None:
            raise
        global _warned
        if _warned:
            return err.partial
        _warned = True
        import sys

        first = err.errors[0].render().splitlines()[0]
        more = f" (and {len(err.errors) - 1} more)" if len(err.errors) > 1 else ""
        print(f"cgman: warning: the configuration is invalid: {first}{more}; using its [manager] keys and "
              "its valid groups", file=sys.stderr)
        return err.partial


# A file changed twice within one timestamp tick, keeping its size, would
# look unchanged (filesystems stamp at jiffy or coarser granularity). Like
# git's "racily clean" rule, a file changed in the last seconds is not cached.
SETTLE_NS = 2_000_000_000


def settled(wanted: Tuple[Any, ...]) -> bool:
    import time

    recent = time.time_ns() - SETTLE_NS
    return all(stamp_ is None or stamp_[3] < recent for _name, stamp_ in wanted[2])


def _read(path: str) -> Optional[List[Any]]:
    data = read_trusted(path)
    try:
        return None if data is None else list(marshal.loads(data))
    except (EOFError, ValueError, TypeError):
        return None


def _write(path: str, payload: Any) -> None:
    try:
        write_atomically(path, marshal.dumps(payload))
    except (OSError, ValueError):
        pass  # a cache that cannot be written only costs time
