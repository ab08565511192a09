"""Every path a run reads or lists, noted where it is read: the one list warm ``check`` replay watches.

Discovery notes each directory it lists and each file it keeps; the ignore files, the index, the
config files (found or looked for), pin files, ``pipeline.yaml`` files and the lock are noted where
they are opened. Replay (cli/replay.py) stats exactly these after the run, so a new input is
watched the moment some reader notes it, with nothing to keep in step by hand.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Union

_noted: Optional[Dict[str, None]] = None  # insertion-ordered set; None: no run is noting


def begin() -> None:
    """Start noting (``check`` calls it before the run when the run may be recorded)."""
    global _noted
    _noted = {}


def note(path: Union[str, "os.PathLike[str]"]) -> None:
    """A path this run read, listed or looked for (an absent one too: its creation changes the run)."""
    if _noted is not None:
        _noted[os.path.abspath(path)] = None


def end() -> List[str]:
    """The noted paths, in the order first noted; noting stops."""
    global _noted
    found = list(_noted or ())
    _noted = None
    return found
