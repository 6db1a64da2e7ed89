"""cgman's own files under <run_root>/cgman: written atomically, read only when trusted.

The record, the config cache and the snapshot all follow the same rules: a
write goes to a temporary file that replaces the old one in one rename (a
reader never sees half a file), and a file is read only if this user owns it
and nobody else can write it (a cache from someone else is ignored, not
trusted).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import Optional, Tuple


def stamp(path: str) -> Optional[Tuple[int, ...]]:
    """Identity and version of a file (inode, size, times), None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def write_atomically(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` by ``data`` in one rename; raises OSError."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:  # a leftover of a crashed process with this pid, or something planted: gone
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    # O_EXCL|O_NOFOLLOW: never write through a link someone put there (a --run-root others
    # can write to must not let root overwrite other files).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_trusted(path: str, root_too: bool = False) -> Optional[bytes]:
    """The file's bytes, or None if it is missing, unreadable, or not ours alone.
    ``root_too``: one root wrote (and only root can change) is trusted as well."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid not in ((os.geteuid(), 0) if root_too else (os.geteuid(),)) or st.st_mode & 0o022:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
