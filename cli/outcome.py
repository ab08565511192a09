"""What a run found: one outcome per file, and the report that collects them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..codemods.base import Rule, Site
from .exits import EXIT_CLEAN, EXIT_ERROR, EXIT_PENDING


@dataclass
class FileOutcome:
    path: Path
    root: Path
    old: bytes = b""
    new: Optional[bytes] = None
    sites: List[Site] = field(default_factory=list)
    error: Optional[str] = None
    needs_compat: bool = False
    host: Optional[Path] = None  # package that hosts _torch_compat for this file, when it needs it
    written: bool = False

    @property
    def rel(self) -> str:
        return self.path.relative_to(self.root).as_posix()


@dataclass
class RunReport:
    """Everything a command reports, and its exit status (``exit_code``), decided here only.

    ``command`` says what the outcomes mean: for ``check`` and ``diff`` a changed file is pending
    work (exit 1); ``apply`` wrote it. ``check --lock`` sets ``drift`` (a list, maybe empty): then
    pending rewrites that match the lock are expected and only drift fails."""
    rules: List[Rule]
    command: str = "check"
    outcomes: List[FileOutcome] = field(default_factory=list)
    notes: List[Site] = field(default_factory=list)
    files_seen: int = 0
    files_parsed: int = 0
    files_cached: int = 0
    drift: Optional[List[dict]] = None  # check --lock: per rule and file, locked vs found counts
    missing_helper: Optional[Path] = None  # apply -: the rewrite imports a helper module not there yet
    stale_helper: Optional[Path] = None  # apply -: the helper module there is an older template

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_ERROR
        if self.command == "lock":
            return EXIT_CLEAN  # a lock records whatever is there
        if self.unhandled or self.drift:
            return EXIT_PENDING
        if self.command in ("check", "diff") and self.changed and self.drift is None:
            return EXIT_PENDING  # pending rewrites (check --lock expects them: drift decides)
        if self.command == "apply" and self.missing_helper is not None:
            return EXIT_PENDING  # apply -: the output imports a module that must still be written
        return EXIT_CLEAN

    @property
    def errors(self) -> List[FileOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def changed(self) -> List[FileOutcome]:
        return [o for o in self.outcomes if o.new is not None and not o.error]

    @property
    def sites(self) -> List[Site]:
        return [s for o in self.outcomes for s in o.sites]

    @property
    def unhandled(self) -> List[Site]:
        return [s for s in self.sites if s.status == "unhandled"]
