"""cgmand: the boot-time service.

The long-running loop (config watching, drift repair, sd_notify) arrives with
the daemon issue; until then `cgmand` performs one reconcile, exactly like
`cgman apply`, and exits with its status.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs start-up time; annotations are strings anyway
    from typing import List, Optional

from cgmand import cli


def main(argv: Optional[List[str]] = None) -> int:
    return cli.main(["apply"] + list(sys.argv[1:] if argv is None else argv))


def entry() -> None:
    sys.exit(main())
