"""What a transform returns, and the errors it raises; shared by both paths and the entry point."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import List, Optional, Set, Tuple

from ..base import FileContext, ImportIndex, Site, parse_quietly


class CannotParse(Exception):
    """LibCST failed on the input with something other than a syntax error."""


class RuleBug(Exception):
    """A rule produced code that does not parse: a bug in the tool, reported per file."""


class WholeModule(Exception):
    """Statement-level parsing cannot be exact here: parse the whole module."""


@dataclass
class Reuse:
    """Statements (as parsed, prologue included) a pass left alone, and the imports it resolved with."""

    texts: set
    index: ImportIndex


@dataclass
class TransformResult:
    code: Optional[str]  # new source, or None when nothing changed
    sites: List[Site] = field(default_factory=list)
    needs_compat: bool = False
    tree: Optional[ast.Module] = field(default=None, repr=False)  # ast of the result (``code``, else the input)
    reuse: Optional[Reuse] = field(default=None, repr=False)  # for the idempotence pass over ``code``
    # (ordinal of the suppression comment in the input, code) for every site a comment suppressed
    suppressed: Set[Tuple[int, str]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.sites = sorted(self.sites, key=lambda s: s.line)  # file order, whichever rule found it


class Rewritten:
    """A path's new source before the entry point checks it (and re-runs it for newly bound roots).
    (A plain class: each dataclass costs its ``exec`` at import.)"""

    __slots__ = ("code", "ctx", "index", "reuse", "suppressed")

    def __init__(self, code: str, ctx: FileContext, index: ImportIndex, reuse: Optional[Reuse] = None) -> None:
        self.code, self.ctx, self.index, self.reuse = code, ctx, index, reuse
        self.suppressed: Set[Tuple[int, str]] = set()


def ast_parse(text: str) -> Optional[ast.Module]:
    try:
        return parse_quietly(text)
    except (SyntaxError, ValueError):
        return None


def unhosted(sites: List[Site]) -> List[Site]:
    """No package to host the helpers: the file is kept as it was, and its patches become unhandled."""
    return [Site(s.code, s.path, s.line, "unhandled", s.message + " (no package to host _torch_compat)")
            if s.status == "patched" else s for s in sites]
