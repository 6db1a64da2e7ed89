"""cgconfig.conf, read as libcgroup 2.0-3.2 reads it (research/libcgroup.md §1.1-1.2, 1.7).

Lexical rules (src/lex.l): an ID is a run of [A-Za-z0-9_-/.,%@\\]; a "string" has no
escapes and may span lines; a line whose first non-blank character is '#', or which
starts with '*' in column 0, is a comment; { } = ; are the only punctuation. Keywords
(group, template, perm, task, admin, mount, namespace, systemd, default) are names
only when quoted, except `default` as a group name.

What libcgroup refuses but whose meaning is plain is accepted here with a warning (the
file never loaded as it is, so the administrator should know): a '#' comment after
other text, `perm` after a controller block (cgsnapshot writes that), a `perm` with
only `task` or only `admin`. What it silently ignores is reported: unknown keys in
task/admin (cgsnapshot's tuid/tgid), empty values, values with newlines.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Optional, Tuple

from cgmand.libcg import Note

KEYWORDS = {"group", "template", "perm", "task", "admin", "mount", "namespace", "systemd", "default"}
_ID = re.compile(r"[A-Za-z0-9_\-/.,%@\\]+")
PERM_KEYS = {"task": ("uid", "gid", "fperm"), "admin": ("uid", "gid", "fperm", "dperm")}


class Token:
    __slots__ = ("kind", "text", "line", "quoted")

    def __init__(self, kind: str, text: str, line: int, quoted: bool = False):
        self.kind, self.text, self.line, self.quoted = kind, text, line, quoted

    def show(self) -> str:
        if self.kind == "end":
            return "the end of the file"
        return f'"{self.text}"' if self.quoted else f"'{self.text}'"


class Setting:
    """KEY = VALUE; in a block, with its line."""

    __slots__ = ("key", "value", "line")

    def __init__(self, key: str, value: str, line: int):
        self.key, self.value, self.line = key, value, line


class Block:
    """A controller block of a group (cpu { ... }), or a task/admin block, or a
    mount/namespace/systemd section: its settings in file order."""

    __slots__ = ("name", "line", "settings")

    def __init__(self, name: str, line: int, settings: "List[Setting]"):
        self.name, self.line, self.settings = name, line, settings


class Perm:
    __slots__ = ("line", "task", "admin")

    def __init__(self, line: int, task: "Optional[Block]", admin: "Optional[Block]"):
        self.line, self.task, self.admin = line, task, admin


class Group:
    """A group or template section."""

    __slots__ = ("kind", "name", "line", "perm", "controllers")

    def __init__(self, kind: str, name: str, line: int, perm: "Optional[Perm]", controllers: "List[Block]"):
        self.kind, self.name, self.line, self.perm, self.controllers = kind, name, line, perm, controllers


class Parsed:
    """One file: its sections in order (Group, or Block for mount/namespace/systemd,
    or ("default", Perm)), and the notes."""

    def __init__(self, source: str):
        self.source = source
        self.groups: List[Group] = []
        self.defaults: List[Perm] = []
        self.sections: List[Block] = []  # mount, namespace, systemd (name = the keyword)
        self.notes: List[Note] = []


class _Stop(Exception):
    pass


def tokens(text: str, source: str, notes: "List[Note]") -> "List[Token]":
    out: List[Token] = []
    index, line, size = 0, 1, len(text)
    line_start = True  # nothing but blanks so far on this line
    column0 = True
    while index < size:
        char = text[index]
        if char == "\n":
            line, index, line_start, column0 = line + 1, index + 1, True, True
            continue
        if char in " \t\r\f\v":
            index, column0 = index + 1, False
            continue
        if (char == "#" and line_start) or (char == "*" and column0):
            end = text.find("\n", index)
            index = size if end == -1 else end
            continue
        if char == "#":
            notes.append(Note(source, line, "a comment after other text: libcgroup refuses the whole file "
                                            "(\"syntax error\"); taken as a comment"))
            end = text.find("\n", index)
            index = size if end == -1 else end
            continue
        line_start = column0 = False
        if char == '"':
            end = text.find('"', index + 1)
            if end == -1:
                notes.append(Note(source, line, 'a quoted value is not closed: expected a second "', error=True))
                raise _Stop()
            value = text[index + 1:end]
            out.append(Token("id", value, line, quoted=True))
            line += value.count("\n")
            index = end + 1
            continue
        if char in "{}=;":
            out.append(Token(char, char, line))
            index += 1
            continue
        found = _ID.match(text, index)
        if found is None:
            notes.append(Note(source, line, f"unexpected {char!r}: a value with spaces or any of : + * = # $ ! "
                                            'must be quoted, as in "max 100000"', error=True))
            raise _Stop()
        word = found.group(0)
        out.append(Token("kw" if word in KEYWORDS else "id", word, line))
        index = found.end()
    out.append(Token("end", "", line))
    return out


def parse(text: str, source: str) -> Parsed:
    """The file's sections; errors (which stop it) and warnings in ``.notes``."""
    parsed = Parsed(source)
    try:
        _Parser(tokens(text, source, parsed.notes), parsed).file()
    except _Stop:
        pass
    return parsed


class _Parser:
    def __init__(self, toks: "List[Token]", parsed: Parsed):
        self.toks, self.at, self.parsed = toks, 0, parsed
        self.source = parsed.source

    # --- tokens ---------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.toks[self.at]

    def take(self) -> Token:
        tok = self.toks[self.at]
        self.at += 1
        return tok

    def fail(self, tok: Token, message: str) -> None:
        self.parsed.notes.append(Note(self.source, tok.line, message, error=True))
        raise _Stop()

    def warn(self, line: int, message: str) -> None:
        self.parsed.notes.append(Note(self.source, line, message))

    def expect(self, kind: str, what: str) -> Token:
        tok = self.take()
        if tok.kind != kind:
            self.fail(tok, f"expected {what}; found {tok.show()}")
        return tok

    def name(self, what: str, allow_default: bool = False) -> Token:
        tok = self.take()
        if tok.kind == "kw" and allow_default and tok.text == "default":
            return tok  # libcgroup's grammar lets `group default` through unquoted
        if tok.kind == "kw":
            self.fail(tok, f"expected {what}; found the keyword '{tok.text}' (quote it to use it as a name: "
                           f'"{tok.text}")')
        if tok.kind != "id":
            self.fail(tok, f"expected {what}; found {tok.show()}")
        return tok

    # --- sections -------------------------------------------------------------------------

    def file(self) -> None:
        while self.peek().kind != "end":
            tok = self.take()
            if tok.kind != "kw" or tok.text not in ("group", "template", "mount", "namespace", "default", "systemd"):
                self.fail(tok, "expected a section: group, template, mount, namespace, default or systemd; "
                               f"found {tok.show()}")
            if tok.text in ("group", "template"):
                self.parsed.groups.append(self.group(tok))
            elif tok.text == "default":
                self.expect("{", "'{' after default")
                perm_tok = self.take()
                if perm_tok.kind != "kw" or perm_tok.text != "perm":
                    self.fail(perm_tok, f"expected perm {{ ... }} inside default; found {perm_tok.show()}")
                self.parsed.defaults.append(self.perm(perm_tok))
                self.expect("}", "'}' closing default")
            else:
                self.parsed.sections.append(self.assignments(tok.text, tok.line, at_least_one=True))

    def group(self, kw: Token) -> Group:
        name = self.name(f"the {kw.text}'s name", allow_default=kw.text == "group")
        self.expect("{", f"'{{' after {kw.text} {name.text}")
        perm: Optional[Perm] = None
        controllers: List[Block] = []
        seen: Dict[str, int] = {}
        while self.peek().kind != "}":
            tok = self.peek()
            if tok.kind == "kw" and tok.text == "perm":
                self.take()
                if perm is not None:
                    self.fail(tok, f"a second perm block in {kw.text} {name.text} (the first is at line {perm.line})")
                if controllers:
                    self.warn(tok.line, "perm after a controller block: libcgroup refuses the whole file (perm "
                                        "must come first; cgsnapshot writes it this way); taken as written")
                perm = self.perm(tok)
                continue
            ctrl = self.name(f"a controller block (cpu {{ ... }}) or perm in {kw.text} {name.text}")
            if ctrl.text in seen:
                self.fail(ctrl, f"controller {ctrl.text} twice in {kw.text} {name.text} (first at line "
                                f"{seen[ctrl.text]}): libcgroup refuses that")
            seen[ctrl.text] = ctrl.line
            controllers.append(self.assignments(ctrl.text, ctrl.line, at_least_one=False))
        close = self.take()
        if perm is None and not controllers:
            self.fail(close, f"{kw.text} {name.text} is empty: expected perm or a controller block")
        return Group(kw.text, name.text, kw.line, perm, controllers)

    def perm(self, kw: Token) -> Perm:
        self.expect("{", "'{' after perm")
        parts: Dict[str, Block] = {}
        while self.peek().kind != "}":
            tok = self.take()
            if tok.kind != "kw" or tok.text not in PERM_KEYS:
                self.fail(tok, f"expected task {{ ... }} or admin {{ ... }} in perm; found {tok.show()}")
            if tok.text in parts:
                self.fail(tok, f"{tok.text} twice in one perm block")
            block = self.assignments(tok.text, tok.line, at_least_one=True)
            for setting in block.settings:
                if setting.key not in PERM_KEYS[tok.text]:
                    self.warn(setting.line, f"{tok.text}: libcgroup ignores the key '{setting.key}' (it knows "
                                            f"{', '.join(PERM_KEYS[tok.text])}); left out")
            block.settings = [s for s in block.settings if s.key in PERM_KEYS[tok.text]]
            parts[tok.text] = block
        self.take()
        if len(parts) == 1:
            missing = "admin" if "task" in parts else "task"
            self.warn(kw.line, f"perm without {missing}: libcgroup refuses the whole file (it wants both); "
                               "taken as written")
        if not parts:
            self.fail(kw, "an empty perm block: expected task { ... } and admin { ... }")
        return Perm(kw.line, parts.get("task"), parts.get("admin"))

    def assignments(self, name: str, line: int, at_least_one: bool) -> Block:
        """{ KEY = VALUE; ... }"""
        self.expect("{", f"'{{' after {name}")
        settings: List[Setting] = []
        keys: Dict[str, int] = {}
        while self.peek().kind != "}":
            key = self.name(f"a KEY = VALUE; setting in {name}")
            self.expect("=", f"'=' after {key.text}")
            value = self.take()
            if value.kind == "kw":  # a keyword as a value is the keyword's text
                value.kind = "id"
            if value.kind != "id":
                self.fail(value, f"expected a value for {key.text}; found {value.show()}")
            end = self.take()
            if end.kind != ";":
                if end.line != value.line:
                    spaced = f" (is ';' missing at the end of line {value.line}?)"
                elif end.kind == "id":
                    spaced = " (a value with spaces must be quoted, as in \"max 100000\")"
                else:
                    spaced = ""
                self.fail(end, f"expected ';' after {key.text} = {value.show()}; found {end.show()}{spaced}")
            if key.text in keys:
                self.fail(key, f"{key.text} twice in {name} (first at line {keys[key.text]}): libcgroup refuses that")
            keys[key.text] = key.line
            settings.append(Setting(key.text, value.text, key.line))
        close = self.take()
        if at_least_one and not settings:
            self.fail(close, f"an empty {name} block: libcgroup wants at least one setting there")
        return Block(name, line, settings)


def pairs(block: "Optional[Block]") -> "Dict[str, Tuple[str, int]]":
    return {s.key: (s.value, s.line) for s in block.settings} if block is not None else {}
