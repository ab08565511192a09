"""What a run is asked to do (``Options``) and how a run refuses bad arguments (``UsageError``).

Kept apart from the runner so that the modules that set up a run (options, ignore, stdin) need
not import it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ..codemods.engine.bounded_read import DEFAULT_MAX_BYTES


class UsageError(Exception):
    """Bad arguments or paths: exit 2 before any work."""


@dataclass
class Options:
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    target: str = "2.0"
    jobs: int = 1
    max_bytes: int = DEFAULT_MAX_BYTES
    exclude: Sequence[str] = ()
    cache: bool = True
    force_exclude: bool = False  # ignore files and --exclude apply to named paths too (pre-commit's file lists)
    cuda: Optional[str] = None  # --target-cuda (the pins rules); None: the pin table's default for the target torch
