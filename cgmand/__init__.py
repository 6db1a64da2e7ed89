"""cgman: keep the kernel's control groups equal to a declarative TOML description."""

__version__ = "0.1.0"
