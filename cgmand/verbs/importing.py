"""`cgman import`: libcgroup's cgconfig.conf and cgrules.conf as cgman TOML.

    cgman import cgconfig PATH... [-o DIR] [--v2] [--root PATH] [--check] [--force]
    cgman import cgrules PATH... [-o DIR] [--check] [--force]

A directory among the paths means its files in name order: *.conf for cgconfig
(as cgconfigparser -L since libcgroup 3.1), every file for cgrules.d. Without -o the TOML goes to standard
output; with -o DIR one file per source file, nothing written unless every
source imported (and no existing file is replaced without --force). --check
imports, then validates the result together with the files already in the
configuration directory and shows the plan apply would carry out, writing
nothing. Warnings go to standard error, and into the TOML as comments.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Any, List, Set, Tuple

    from cgmand.roots import Roots

from cgmand.errors import ConfigError, ExitCode


def add_parser(sub: Any, common: Any) -> None:
    verb = sub.add_parser("import", parents=[common], help="turn cgconfig.conf / cgrules.conf into cgman TOML")
    kinds = verb.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, text, what in (("cgconfig", "groups from cgconfig.conf (files or directories)", "PATH"),
                             ("cgrules", "rules from cgrules.conf (files or directories)", "PATH")):
        one = kinds.add_parser(kind, help=text)
        one.add_argument("paths", nargs="+", metavar=what)
        one.add_argument("-o", "--output", metavar="DIR", help="write one .toml per source file into DIR")
        one.add_argument("--check", action="store_true",
                         help="validate against this host and show the plan, writing nothing")
        one.add_argument("--force", action="store_true", help="with -o: replace files that exist")
        if kind == "cgconfig":
            one.add_argument("--v2", action="store_true", help="cgroup v2 knob names (converted values)")
            one.add_argument("--root", metavar="PATH",
                             help='set [manager] root (e.g. "/" for cgconfig-identical paths)')


def run(args: Any, roots: "Roots") -> int:
    outputs = _import(args, roots)
    for name, out in outputs:
        for note in out.notes:
            print(f"cgman import: warning: {note.where()}: {note.message}", file=sys.stderr)
    if args.check:
        return _check(args, roots, outputs)
    if args.output:
        _write(args.output, outputs, args.force)
        for name, out in outputs:
            print(f"{out.source} -> {os.path.join(args.output, name)}")
        return ExitCode.OK
    for index, (name, out) in enumerate(outputs):
        if len(outputs) > 1:
            sys.stdout.write(("\n" if index else "") + f"# ==> {name} <==\n")
        sys.stdout.write(out.text())
    return ExitCode.OK


def _import(args: Any, roots: "Roots") -> "List[Tuple[str, Any]]":
    from cgmand.libcg import ImportFailed, cgconfig, cgrules, convert

    sources, skipped = _sources(args.paths, args.kind)
    if args.output and os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ConfigError("is not a directory: -o wants the directory to write the .toml files into",
                          source=args.output, reference="import-invalid")
    names = _names(sources, args.kind)
    outputs, failures = [], []
    # What the configuration declares, but not in the files this import replaces
    known = _declared(args.output or roots.config_dir, skip=set(names))
    leaked = None  # the default perm of the cgconfig files before: cgconfigparser carries it over
    for index, (source, name) in enumerate(zip(sources, names)):
        text = _read(source)
        stem = name[3:-5]  # unique, so rule names are too
        if args.kind == "cgconfig":
            parsed = cgconfig.parse(text, source)
            out = convert.from_cgconfig(parsed, v2=args.v2, root=args.root if index == 0 else None, leaked=leaked)
            leaked = out.default
        else:
            lines, notes = cgrules.parse(text, source)
            out = convert.from_cgrules(lines, notes, source, known, stem)
        errors = [n for n in out.notes if n.error]
        if errors:
            failures += errors
            continue
        out.notes = [n for n in out.notes if not n.error]
        known.update(out.groups + out.templates)
        outputs.append((name, out))
    if failures:
        raise ImportFailed(failures)
    if outputs:
        outputs[0][1].notes[:0] = skipped
    return outputs


def _sources(paths: "List[str]", kind: str) -> "Tuple[List[str], List[Any]]":
    """Files as given; a directory's files in name order: cgconfig's *.conf (cgconfigparser
    -L since 3.1; 2.0 read every file), cgrules.d's every file (cgrulesengd reads them
    all, in readdir order, which is no order: name order is the one an administrator
    sees). A missing *.d directory is no error, as in libcgroup."""
    from cgmand.libcg import Note

    out, notes = [], []
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if name.startswith(".") or not os.path.isfile(full):
                    continue
                if kind == "cgconfig" and not name.endswith(".conf"):
                    notes.append(Note(full, 0, "not read: cgconfigparser -L reads only *.conf since libcgroup "
                                               "3.1 (2.0 read every file)"))
                    continue
                out.append(full)
        elif not os.path.exists(path) and path.rstrip("/").endswith(".d"):
            notes.append(Note(path, 0, "no such directory: nothing to import from it (libcgroup does not mind)"))
        else:
            out.append(path)
    if not out:
        raise ConfigError(f"no files to import in {', '.join(paths)}", reference="import-invalid")
    return out, notes


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as err:
        raise ConfigError(f"cannot read it: {err.strerror}", source=path, reference="import-invalid") from None


def _names(sources: "List[str]", kind: str) -> "List[str]":
    """The output file of each source: 40-<name>.toml for groups, 50-, 51-... for rules
    (cgman tries rules by file name, then position: the sources' order is kept)."""
    used: Set[str] = set()
    out = []
    for index, source in enumerate(sources):
        stem = os.path.basename(source)
        stem = _unique(stem[:-5] if stem.endswith(".conf") else stem, used)
        number = 40 if kind == "cgconfig" else 50 + min(index, 49)
        out.append(f"{number}-{stem}.toml")
    return out


def _unique(stem: str, used: "Set[str]") -> str:
    """a, a-2, a-3...: the stem names the output file and, for rules, the rules."""
    name, number = stem, 2
    while name in used:
        name = f"{stem}-{number}"
        number += 1
    used.add(name)
    return name


def _declared(directory: str, skip: "Set[str]") -> "Set[str]":
    """The groups and templates the TOML files in ``directory`` declare, but for the
    files named in ``skip`` (read raw: they need not validate for this)."""
    import tomllib

    found: Set[str] = set()
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return found
    for name in names:
        if not name.endswith(".toml") or name.startswith(".") or name in skip:
            continue
        try:
            with open(os.path.join(directory, name), "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for kind in ("group", "template"):
            if isinstance(data.get(kind), dict):
                found.update(key.strip("/") for key in data[kind])
    return found


def _write(directory: str, outputs: "List[Tuple[str, Any]]", force: bool) -> None:
    os.makedirs(directory, exist_ok=True)
    if not force:
        there = [name for name, _ in outputs if os.path.exists(os.path.join(directory, name))]
        if there:
            raise ConfigError("exists: nothing was written", source=os.path.join(directory, there[0]),
                              hint="--force replaces it", reference="import-invalid")
    for name, out in outputs:  # each file whole or not at all (a rename)
        path = os.path.join(directory, name)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(out.text())
        os.replace(path + ".tmp", path)


def _check(args: Any, roots: "Roots", outputs: "List[Tuple[str, Any]]") -> int:
    """The imported files beside the configuration's own, validated on this host, and the
    plan: in a temporary directory, nothing written where it counts."""
    import shutil
    import tempfile
    from types import SimpleNamespace

    from cgmand import commands
    from cgmand.roots import Roots as RootsType

    target = args.output or roots.config_dir
    with tempfile.TemporaryDirectory(prefix="cgman-import.") as temp:
        if os.path.isdir(target):
            for name in os.listdir(target):
                if name.endswith(".toml") and not name.startswith("."):
                    shutil.copy(os.path.join(target, name), os.path.join(temp, name))
        for name, out in outputs:
            with open(os.path.join(temp, name), "w", encoding="utf-8") as handle:
                handle.write(out.text())
        there = RootsType(temp, roots.cgroup_root, roots.proc_root, roots.run_root)
        options = SimpleNamespace(json=False, no_host=False, force=False, detailed_exitcode=False)
        print(f"# check: the imported files with those of {target}")
        code = commands.check(options, there)
        if code != ExitCode.OK:
            return code
        print("# plan: what `cgman apply` would do with them")
        return commands.plan(options, there)
