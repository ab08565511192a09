"""The console script: replay an identical recorded `check` (cli/replay.py), else run the CLI (cli/main.py)."""
from __future__ import annotations

import sys

from .replay import try_replay


def main() -> None:
    code = try_replay(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from .main import main as cli_main

    cli_main()
