"""What a run found: one outcome per file, and the report that collects them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..codemods.base import Rule, Site


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
    rules: List[Rule]
    outcomes: List[FileOutcome] = field(default_factory=list)
    notes: List[Site] = field(default_factory=list)
    files_seen: int = 0
    files_parsed: int = 0
    files_cached: int = 0

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
