"""The one place that reads and writes cgroup filesystems.

Every call takes a cgroup path relative to the hierarchy's mount ("/cgman/web")
and builds the real path here. Writes use os.open/os.write/os.close, one
write(2) per value, so the kernel's errno reaches us exactly (buffered I/O can
report errors only at close). Every OSError becomes a KernelError naming the
operation, the path and the value.
"""

from __future__ import annotations

import errno
import os
import stat
import time
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Dict, List, Optional, Tuple

    from cgmand.hierarchy import Hierarchy  # or what cgman exec keeps: kernel/execview.Place

from cgmand.errors import CgroupBusy, CgroupGone, KernelError, ProcessGone

_HINTS = {
    errno.EINVAL: "the kernel rejected the value",
    errno.EACCES: "permission denied (cgman must run as root)",
    errno.EPERM: "operation not permitted (cgman must run as root)",
    errno.EBUSY: "busy",
    errno.ENOSPC: "no space (v1 cpuset: cpus/mems empty?)",
    errno.EROFS: "the cgroup filesystem is mounted read-only",
    errno.EOPNOTSUPP: "not supported here (threaded cgroup?)",
}


def fail(op: str, path: str, err: OSError, value: Optional[str] = None) -> KernelError:
    """Turn an OSError into the matching KernelError, worded for an admin."""
    code = err.errno or 0
    reason = _HINTS.get(code, os.strerror(code))
    shown = f' "{value}"' if value is not None else ""
    message = f"{op}{shown} {path}: {reason} ({errno.errorcode.get(code, code)})"
    if code == errno.ESRCH:
        return ProcessGone(op, path, code, message, value)
    # cgroupfs refuses a cgroup with processes or children with EBUSY; its files
    # never make it ENOTEMPTY. A fake tree's directory does: the same meaning.
    if code in (errno.EBUSY, errno.ENOTEMPTY) and op == "rmdir":
        return CgroupBusy(op, path, code, message, value)
    directory = path if op in ("rmdir", "list", "stat") else os.path.dirname(path)
    if code == errno.ENOENT and not os.path.isdir(directory):
        return CgroupGone(op, path, code, f"{op} {path}: cgroup {directory} does not exist")
    if code == errno.ENOENT and op in ("write", "read"):
        message = (f"{op} {path}: no such file: this kernel lacks the knob, or its controller "
                   "is not enabled for this cgroup")
    return KernelError(op, path, code, message, value)


def read_bytes(path: str) -> bytes:
    """A kernel file's whole content with os-level calls (no io objects: cgroup and proc
    files are read thousands of times a second by the rules engine). Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)  # interface files are small: one read, usually
        while len(data) % 65536 == 0 and data:
            more = os.read(fd, 65536)
            if not more:
                break
            data += more
        return data
    finally:
        os.close(fd)


class ProcsFile:
    """One cgroup's cgroup.procs, kept open to move many processes in: the rules engine
    writes thousands of pids a second into a few groups, and an open(2) per move is a
    path walk and two syscalls more. cgroupfs handles each write(2) on its own and
    ignores the file offset (kernfs calls cgroup_file_write / cgroup1_procs_write with
    the whole buffer), so one descriptor serves every move; checked on Linux 6.18, v1
    and v2. Holding it does not keep the cgroup: rmdir(2) succeeds, and the next write
    fails with ENODEV (kernfs deactivated the file), raised here as CgroupGone so the
    caller looks the group up again.

    ``kernel``: the file is cgroupfs's. A fake tree's file (the caller knows from its
    roots: kernfs files are regular files too) is opened anew for each write, as
    CgroupFS.write does, so that a removed fake group is noticed there too."""

    def __init__(self, fs: "CgroupFS", cgroup: str, kernel: bool = True):
        self.fs, self.cgroup = fs, cgroup
        self.path = fs.path(cgroup, "cgroup.procs")
        self.fd = -1
        if kernel:
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
            except OSError as err:
                raise fail("write", self.path, err) from err

    def write(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) here. ProcessGone, CgroupGone, KernelError."""
        if self.fd < 0:
            self.fs.write(self.cgroup, "cgroup.procs", str(pid))
            return
        try:
            os.write(self.fd, b"%d" % pid)
        except OSError as err:
            if err.errno == errno.ENODEV:
                raise CgroupGone("write", self.path, err.errno, f"write {self.path}: the cgroup was removed",
                                 str(pid)) from err
            raise fail("write", self.path, err, str(pid)) from err

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class CgroupFS:
    """Kernel I/O for one hierarchy."""

    def __init__(self, hierarchy: Hierarchy):
        self.hierarchy = hierarchy
        self.mount = hierarchy.mount_point.rstrip("/")

    def path(self, cgroup: str, file: Optional[str] = None) -> str:
        base = self.mount if cgroup == "/" else self.mount + cgroup
        return base if file is None else base + "/" + file

    def read(self, cgroup: str, file: str) -> str:
        path = self.path(cgroup, file)
        try:
            data = read_bytes(path)
        except OSError as err:
            raise fail("read", path, err) from err
        return data.decode("utf-8", "replace")

    def read_if_present(self, cgroup: str, file: str) -> Optional[str]:
        """The file's text; None if the file is missing; CgroupGone if the cgroup is."""
        try:
            return self.read(cgroup, file)
        except CgroupGone:
            raise
        except KernelError as err:
            if err.errno == errno.ENOENT:
                return None
            raise

    def write(self, cgroup: str, file: str, text: str) -> None:
        path = self.path(cgroup, file)
        # A zero-length write(2) never reaches kernfs's handler (it returns 0 and
        # changes nothing); "\n" is the empty value the handlers strip it to
        # (emptying a cpuset, say).
        data = text.encode() or b"\n"
        try:
            # No O_TRUNC: kernfs parses each write on its own, and truncating costs
            # about 7 us per write. A regular file (a fake tree) that kept older,
            # longer content is cut to what was written; cgroupfs files report size 0.
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, data)
                if os.fstat(fd).st_size > len(data):
                    os.ftruncate(fd, len(data))
            finally:
                os.close(fd)
        except OSError as err:
            raise fail("write", path, err, text) from err

    def exists(self, cgroup: str) -> bool:
        return os.path.isdir(self.path(cgroup))

    def mkdir(self, cgroup: str) -> bool:
        """Create the cgroup; False if it already existed."""
        path = self.path(cgroup)
        try:
            os.mkdir(path)
        except FileExistsError:
            return False
        except OSError as err:
            raise fail("mkdir", path, err) from err
        return True

    def rmdir(self, cgroup: str, tries: int = 6) -> None:
        """Remove an empty cgroup.

        EBUSY right after the last process left is transient: the kernel frees
        the css asynchronously (research/systemd-v2.md §3.6; runc retries the
        same way), so retry with a doubling back-off before giving up.
        """
        path = self.path(cgroup)
        delay = 0.001
        for attempt in range(tries):
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError as err:
                if err.errno != errno.EBUSY or attempt == tries - 1:
                    raise fail("rmdir", path, err) from err
            time.sleep(delay)
            delay *= 2

    def children(self, cgroup: str) -> List[str]:
        """Child cgroup paths."""
        path = self.path(cgroup)
        try:
            with os.scandir(path) as entries:
                names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        except OSError as err:
            raise fail("list", path, err) from err
        prefix = "" if cgroup == "/" else cgroup
        return sorted(f"{prefix}/{name}" for name in names)

    def subtree(self, cgroup: str) -> List[str]:
        """The cgroup and every cgroup below it, parents before children."""
        out = [cgroup]
        for child in self.children(cgroup):
            out += self.subtree(child)
        return out

    def files(self, cgroup: str) -> List[str]:
        """The cgroup's interface files (names)."""
        path = self.path(cgroup)
        try:
            with os.scandir(path) as entries:
                return [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
        except OSError as err:
            raise fail("list", path, err) from err

    def pids(self, cgroup: str) -> List[int]:
        """Process ids in the cgroup itself (not its children)."""
        return [int(line) for line in self.read(cgroup, "cgroup.procs").split()]

    def entries(self, cgroup: str) -> Dict[str, Tuple[int, int, int]]:
        """(uid, gid, mode) of the directory (".") and each file in it."""
        path = self.path(cgroup)
        try:
            out = {".": _owner(os.stat(path))}
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False):
                        out[entry.name] = _owner(entry.stat(follow_symlinks=False))
        except OSError as err:
            raise fail("stat", path, err) from err
        return out

    def set_owner(self, cgroup: str, name: str, uid: int, gid: int, mode: int) -> None:
        path = self.path(cgroup) if name == "." else self.path(cgroup, name)
        try:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        except OSError as err:
            raise fail("chown", path, err, f"{uid}:{gid} {mode:o}") from err


def _owner(st: os.stat_result) -> Tuple[int, int, int]:
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
