"""``# sam3d-codemod: ignore[TCxxx]`` comments: where they are, what they suppress, which suppress nothing.

Only real comments count: ``tokenize`` finds them (not the same words inside a string), on the
lines Python numbers (a lone CR ends a line; a form feed does not). Only files that contain the
marker are tokenized, so a cold ``check`` pays nothing for the others.
"""
from __future__ import annotations

import io
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ..base import SUPPRESS_RE, UNUSED_SUPPRESSION_CODE, Site, SourceLines

MARKER = "sam3d-codemod"
UNUSED_CODE = UNUSED_SUPPRESSION_CODE
UNUSED_NAME = "unused-suppression"


class Suppression:
    """One comment: its line, and the codes it names (None: every code, a bare ``ignore``)."""

    __slots__ = ("line", "codes")

    def __init__(self, line: int, codes: Optional[Tuple[str, ...]]) -> None:
        self.line, self.codes = line, codes

    def __eq__(self, other) -> bool:
        return isinstance(other, Suppression) and (self.line, self.codes) == (other.line, other.codes)

    def __repr__(self) -> str:
        return f"Suppression({self.line}, {self.codes})"


def run_suppressed(text: str, ctx, transform):
    """``transform()`` with ``ctx.suppressed`` taken from ``text``'s comments; its result records
    which comments suppressed a site (both engine paths, so TC101 judges them the same way)."""
    found = find(text)
    ctx.suppressed = by_line(found)
    out = transform()
    out.suppressed = used_ordinals(found, ctx.suppression_hits)
    return out


def find(text: str) -> List[Suppression]:
    """Every suppression comment of ``text``, in file order (at most one per line)."""
    if MARKER not in text:
        return []
    import tokenize

    found: List[Suppression] = []
    last = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text, newline="").readline):
            last = tok.end[0]
            if tok.type == tokenize.COMMENT and MARKER in tok.string:
                _add(found, tok.start[0], tok.string)
    except (tokenize.TokenError, SyntaxError):
        # Not Python to the end (the runner reports that): the rest, line by line.
        lines = SourceLines(text)
        for lineno in range(last + 1, len(lines.starts)):
            line = lines.span(lineno, lineno)
            if "#" in line:
                _add(found, lineno, line[line.index("#"):])
    return found


def _add(found: List[Suppression], line: int, comment: str) -> None:
    m = SUPPRESS_RE.search(comment)
    if m:
        codes = tuple(dict.fromkeys(c.strip() for c in m.group(1).split(",") if c.strip())) if m.group(1) else None
        found.append(Suppression(line, codes))


def by_line(found: Iterable[Suppression]) -> Dict[int, Optional[set]]:
    """line -> suppressed codes (None: all), as ``FileContext.suppressed`` holds them."""
    return {s.line: (set(s.codes) if s.codes is not None else None) for s in found}


def suppressions(text: str) -> Dict[int, Optional[set]]:
    return by_line(find(text))


def used_ordinals(found: List[Suppression], hits: Iterable[Tuple[int, str]]) -> Set[Tuple[int, str]]:
    """(line, code) suppressed sites -> (ordinal of the comment in ``found``, code).

    Ordinals, not lines, carry across passes: rewrites move lines but keep every comment."""
    ordinal = {s.line: i for i, s in enumerate(found)}
    return {(ordinal[line], code) for line, code in hits if line in ordinal}


def unused(found: List[Suppression], used: Set[Tuple[int, str]], path: str, checkable: Iterable[str],
           known: Iterable[str]) -> List[Site]:
    """TC101 sites: codes in ``found`` that suppressed nothing (``used``: (ordinal, code)).

    A code is judged only where this run could have reported it (``checkable``: the enabled rules
    and scans); a bare ``ignore`` only when every known code is checkable. A code no rule has is
    always reported. ``ignore[TC101]`` on a line keeps that comment as it is."""
    checkable, known = set(checkable), set(known)
    sites = []
    for i, s in enumerate(found):
        hit = {code for ordinal, code in used if ordinal == i}
        if s.codes is None:
            if not hit and known <= checkable:
                sites.append(Site(UNUSED_CODE, path, s.line, "unhandled",
                                  "unused suppression: `# sam3d-codemod: ignore` suppresses nothing here"))
            continue
        if UNUSED_CODE in s.codes:
            continue
        unknown = [c for c in s.codes if c not in known]
        stale = [c for c in s.codes if c in checkable and c not in hit]
        if unknown:
            sites.append(Site(UNUSED_CODE, path, s.line, "unhandled",
                              f"suppression names an unknown rule code: {', '.join(unknown)}"))
        if stale:
            sites.append(Site(UNUSED_CODE, path, s.line, "unhandled",
                              f"unused suppression: {', '.join(stale)} suppresses nothing here"))
    return sites


def unused_sites(text: str, final: str, used: Set[Tuple[int, str]], final_hits: Iterable[Tuple[int, str]], path: str,
                 checkable: Iterable[str], known: Iterable[str]) -> List[Site]:
    """TC101 sites of one file, at ``text``'s lines. ``used``: (ordinal, code) from the rule passes
    (over ``text`` and over ``final``, the patched source); ``final_hits``: (line, code) the scan of
    ``final`` suppressed. Nothing is judged where a rewrite changed the number of comments."""
    found = find(text)
    if not found:
        return []
    final_found = found if final == text else find(final)
    if len(final_found) != len(found):
        return []
    return unused(found, set(used) | used_ordinals(final_found, final_hits), path, checkable, known)
