"""The floor for `cgman exec`: the least a Python launcher can do. No parsing, no checks.

    python floor_exec.py FILE[,FILE...] COMMAND [ARG...]

Writes "0" ("the writer") to each FILE (a v1 `tasks` file for a
single-threaded process, `cgroup.procs` on v2: the same writes cgman exec
makes), then execs COMMAND. Used by bench/exec.py only.
"""

import os
import sys

for path in sys.argv[1].split(","):
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"0")
    os.close(fd)
os.execv(sys.argv[2], sys.argv[2:])
