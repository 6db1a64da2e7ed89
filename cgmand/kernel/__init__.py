"""All I/O with the kernel and the system lives in this package.

cgroupfs.py reads and writes cgroup filesystems; hostinfo.py reads mountinfo
and asks systemd; record.py keeps the list of cgroups cgman created. Nothing
outside this package catches OSError: it sees KernelError and its subclasses.
"""
