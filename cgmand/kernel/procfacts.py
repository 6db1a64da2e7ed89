"""A process's attributes as the rules read them (cgmand/rules.py Facts), from procfs,
each read at most once and only when a rule asks.

A process that exits while it is looked at raises ProcessGone from whichever read
finds it gone; the caller treats that as the normal outcome it is.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Optional, Tuple

from cgmand.errors import ProcessGone
from cgmand.kernel.cgroupfs import read_bytes
from cgmand.rules import Facts

PF_KTHREAD = 0x00200000  # include/linux/sched.h: the flags field (9) of /proc/PID/stat


class ProcFacts(Facts):
    def __init__(self, pid: int, proc_root: str = "/proc"):
        self.pid = pid
        self.proc_root = proc_root
        self._cache: Dict[str, object] = {}

    # --- raw files ------------------------------------------------------------------

    def _text(self, name: str) -> str:
        key = "file:" + name
        if key not in self._cache:
            path = f"{self.proc_root}/{self.pid}/{name}"
            try:
                data = read_bytes(path)
            except (FileNotFoundError, ProcessLookupError) as err:  # ENOENT, ESRCH: it exited
                raise ProcessGone("read", path, err.errno or 0, f"process {self.pid} is gone") from None
            except OSError as err:  # EMFILE, EACCES...: said, not taken for an exit
                from cgmand.kernel.cgroupfs import fail

                raise fail("read", path, err) from None
            self._cache[key] = data.decode("utf-8", "replace")
        return self._cache[key]  # type: ignore[return-value]

    def _stat(self) -> List[str]:
        text = self._text("stat")
        return text[text.rindex(")") + 2:].split()  # after the command name, which may hold ") "

    def _status(self, field: str) -> List[str]:
        for line in self._text("status").splitlines():
            if line.startswith(field + ":"):
                return line.split()[1:]
        return []

    # --- what the engine needs besides the rules ------------------------------------

    def identity(self) -> Tuple[int, int]:
        """(pid, start time): names this process and no later one with its pid."""
        return self.pid, int(self._stat()[19])

    def state(self) -> str:
        return self._stat()[0]

    def kernel_thread(self) -> bool:
        return bool(int(self._stat()[6]) & PF_KTHREAD)

    def ppid(self) -> int:
        return int(self._stat()[1])

    def tgid(self) -> int:
        found = self._status("Tgid")
        return int(found[0]) if found else self.pid

    def pid_namespace(self) -> Optional[str]:
        """Its pid namespace (a container's differs from PID 1's), None if unreadable."""
        if "ns" not in self._cache:
            self._cache["ns"] = pid_namespace(self.pid, self.proc_root)
        return self._cache["ns"]  # type: ignore[return-value]

    def cgroups(self) -> Dict[str, str]:
        """Hierarchy ("" for cgroup2, else its controllers or name=) -> path."""
        if "cgroups" not in self._cache:
            out = {}
            for line in self._text("cgroup").splitlines():
                _id, _, rest = line.partition(":")
                names, _, path = rest.partition(":")
                out[names] = path
            self._cache["cgroups"] = out
        return self._cache["cgroups"]  # type: ignore[return-value]

    def cgroups_by_key(self) -> Dict[str, str]:
        """The same, by hierarchy key (Hierarchy.key: "unified", "cpu,cpuacct", "name=systemd")."""
        if "by_key" not in self._cache:
            from cgmand.kernel.attach import hierarchy_key

            self._cache["by_key"] = {hierarchy_key(names): path for names, path in self.cgroups().items()}
        return self._cache["by_key"]  # type: ignore[return-value]

    # --- rules.Facts --------------------------------------------------------------------

    def comm(self) -> str:
        return self._text("comm").rstrip("\n")

    def exe(self) -> Optional[str]:
        if "exe" not in self._cache:
            try:
                target = os.readlink(f"{self.proc_root}/{self.pid}/exe")
            except OSError:  # a kernel thread, another user's process without CAP_SYS_PTRACE, gone
                target = None
            if target is not None and target.endswith(" (deleted)"):
                target = target[: -len(" (deleted)")]  # upgraded under it: the path it ran from
            self._cache["exe"] = target
        return self._cache["exe"]  # type: ignore[return-value]

    def argv(self) -> List[str]:
        text = self._text("cmdline")
        return text.split("\0")[:-1] if text.endswith("\0") else text.split("\0") if text else []

    def uid(self) -> int:
        return int(self._status("Uid")[1])  # effective, as cgrulesengd matched

    def gids(self) -> Tuple[int, ...]:
        effective = int(self._status("Gid")[1])
        return tuple(dict.fromkeys([effective] + [int(g) for g in self._status("Groups")]))

    def cgroup(self) -> str:
        """The process's origin: the cgroup systemd tracks it in (name=systemd on a v1 or
        hybrid host under systemd, else the cgroup2 line), or the first hierarchy's.
        Found in the text, not parsed whole: a hybrid host's file has a dozen lines, and
        the rules engine asks this of every process a rule matches."""
        if "origin" not in self._cache:
            text = "\n" + self._text("cgroup")
            for marker in (":name=systemd:", "\n0::"):
                at = text.find(marker)
                if at != -1:
                    start = at + len(marker)
                    break
            else:
                start = text.find(":", text.find(":") + 1) + 1  # the first line's path
            end = text.find("\n", start)
            path = text[start:end] if end != -1 else text[start:]
            self._cache["origin"] = path or "/"
        return self._cache["origin"]  # type: ignore[return-value]

    def in_cgroup(self, line: str) -> bool:
        """Does /proc/PID/cgroup have this line (":controllers:path", the ID left out)? A
        whole line: a cgroup name may hold ':' (".../x::/cgman/web" is not in /cgman/web)."""
        text = self._text("cgroup")
        at = text.find(line)
        while at != -1:
            start = text.rfind("\n", 0, at) + 1
            end = at + len(line)
            if text[start:at].isdigit() and (end == len(text) or text[end] == "\n"):
                return True
            at = text.find(line, at + 1)
        return False

    def parent(self) -> Optional["ProcFacts"]:
        if "parent" not in self._cache:
            try:
                ppid = self.ppid()
            except ProcessGone:
                ppid = 0
            self._cache["parent"] = ProcFacts(ppid, self.proc_root) if ppid > 0 else None
        return self._cache["parent"]  # type: ignore[return-value]


def pid_namespace(pid: int, proc_root: str = "/proc") -> Optional[str]:
    """Which pid namespace a process is in, as the link's text ("pid:[4026531836]"):
    a readlink costs a third of a stat of the namespace. None if unreadable."""
    try:
        return os.readlink(f"{proc_root}/{pid}/ns/pid")
    except OSError:
        return None


def pin(pid: int) -> Optional[int]:
    """A pidfd for the process (pidfd_open(2), 5.3+): it refers to this process and no
    later one with its pid. None where the kernel has none (the caller checks the start
    time instead). ProcessGone if it has exited."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise ProcessGone("pidfd_open", str(pid), 3, f"process {pid} is gone") from None
    except OSError:
        return None


def pinned_alive(pinned: int) -> bool:
    """Is the pinned process still alive (pidfd_send_signal with signal 0)?"""
    import signal

    try:
        signal.pidfd_send_signal(pinned, 0)
        return True
    except ProcessLookupError:
        return False


def unpin(pinned: int) -> None:
    os.close(pinned)
