"""One file's job, run in-process or in a pool worker (cli/pool.py): decode, check with this
Python, transform with LibCST, prove idempotence and scan for newer torch APIs in check mode.

libcst is imported only inside a job that some rule must rewrite.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..codemods.base import UNUSED_SUPPRESSION_CODE, Rule, Site, check_enabled, parse_quietly
from ..codemods.rules import select_rules
from .fileio import InputError, decode
from .outcome import FileOutcome

# Memory bounds (per worker; measured with /usr/bin/time -v, see the README's "Hostile trees"; the
# bound for CPython's own parser is HARD_MAX_BYTES in cli/runner.py). LibCST takes ~450 MB per MB of a file it parses and ~3 KB per byte
# of its longest line, so a file that needs it is refused over LIBCST_MAX_BYTES, or with a line
# over LIBCST_MAX_LINE (before: a 30 MB file peaked at 20 GB, a 1 MB line at 3.1 GB).
LIBCST_MAX_BYTES = 1024 * 1024
LIBCST_MAX_LINE = 32 * 1024


_WORKER_RULES: Dict[tuple, List[Rule]] = {}


def _rules_for(codes: Tuple[str, ...], target: str) -> List[Rule]:
    key = (codes, target)
    if key not in _WORKER_RULES:
        _WORKER_RULES[key] = [r for r in select_rules(codes, (), target) if r.code in codes]
    return _WORKER_RULES[key]


_CONFLICT = re.compile(r"(<{7}|>{7})(?: |$)|={7}$")
_CONFLICT_BYTES = re.compile(rb"(?m)^<{7}(?: |$)")


def _syntax_error(text: str, exc: Exception) -> str:
    """One line: Python's own parser locates syntax errors precisely (LibCST's line is often off by one)."""
    import ast

    try:
        ast.parse(text)
    except SyntaxError as err:
        lines = text.splitlines()
        marker = next((i for i, line in enumerate(lines, 1) if _CONFLICT.match(line)), None)
        if marker is not None:
            return f"unresolved merge conflict marker at line {marker} (resolve the merge, then run again)"
        return f"syntax error at line {err.lineno}: {err.msg}"
    except ValueError as err:
        return f"syntax error: {err}"
    detail = str(getattr(exc, "message", exc)).splitlines()[0] if str(exc) else ""
    return f"LibCST cannot parse this file (Python can: newer syntax?): {detail}"


def prefilter(path: Path, raw: bytes, python_rules: Sequence[Rule]) -> Tuple[str, ...]:
    """The codes of the rules whose text pre-filter this file passes."""
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw  # a BOM would hide line 1 from `^import` patterns
    if b"\r" in body:  # Python also ends a line at a lone CR; `(?m)^` only sees LF
        body = body.replace(b"\r", b"\n")
    return tuple(r.code for r in python_rules if r.matches_bytes(body, path.name))


def conflict_marker(raw: bytes) -> Optional[str]:
    """The error for a file holding an unresolved merge conflict marker, else None."""
    if b"<<<<<<<" not in raw:
        return None
    body = raw.replace(b"\r", b"\n")
    found = _CONFLICT_BYTES.search(body)
    if found is None:
        return None
    line = body.count(b"\n", 0, found.start()) + 1
    return f"unresolved merge conflict marker at line {line} (resolve the merge, then run again)"


_REJECTED = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


def _python_rejects(text: str, path: Path, need_tree: bool):
    """(ast tree or None, error or None): every file is checked by this Python, not only by LibCST
    (which also accepts syntax this Python rejects, e.g. ``type X = int`` before 3.12, PEP 701
    f-strings before 3.12, parentheses nested deeper than the parser allows). ``compile`` (faster
    than ``ast.parse``, and it also runs the compiler's own checks) where no tree is needed."""
    import sys
    import warnings

    try:
        if need_tree:
            return parse_quietly(text), None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the input's own SyntaxWarnings are not ours to report
            compile(text, str(path), "exec", dont_inherit=True)
        return None, None
    except _REJECTED as err:
        lineno = getattr(err, "lineno", None)
        where = f" at line {lineno}" if lineno else ""
        msg = " ".join(str(getattr(err, "msg", None) or err or type(err).__name__).split())
        return None, (f"syntax error{where}: {msg} (Python {sys.version_info[0]}.{sys.version_info[1]} rejects this "
                      "file; left unchanged)")


def _over_libcst_limits(raw: bytes) -> Optional[str]:
    """Why a file some rule must rewrite is too large for LibCST's memory use, or None."""
    mb = 1024 * 1024
    if len(raw) > LIBCST_MAX_BYTES:
        return (f"a rule must rewrite this file, but it is {len(raw) / mb:.1f} MB, over the {LIBCST_MAX_BYTES // mb} MB "
                "limit for LibCST (which takes ~450 MB of memory per MB); left unchanged")
    if len(raw) > LIBCST_MAX_LINE:
        longest = max(map(len, raw.splitlines()), default=0)
        if longest > LIBCST_MAX_LINE:
            line = next(i for i, ln in enumerate(raw.splitlines(), 1) if len(ln) == longest)
            return (f"a rule must rewrite this file, but line {line} is {longest // 1024} KB long, over the "
                    f"{LIBCST_MAX_LINE // 1024} KB limit for LibCST (~3 KB of memory per byte of a line); left unchanged")
    return None


@dataclass(frozen=True)
class FileJob:
    """One file's work, as a pool worker gets it (picklable)."""

    root: Path
    path: Path
    raw: bytes
    codes: Tuple[str, ...]  # rules whose pre-filter matched (LibCST work); () = syntax check and scan only
    target: str  # --target-torch
    compat_import: Optional[str]  # how the file imports _torch_compat; None: no package hosts it
    verify: bool  # check: prove the rewrite idempotent
    scan_api: bool  # TC100: scan for newer-than-target torch APIs
    checkable: Optional[Tuple[str, ...]]  # codes a TC101 finding may name; None: TC101 off


def transform_file(job: FileJob) -> FileOutcome:
    """Worker entry point: transform one pre-filtered file; in check mode also prove the output
    idempotent and scan it for newer-than-target torch APIs."""
    root, path, raw, codes, target = job.root, job.path, job.raw, job.codes, job.target
    compat_import, verify, scan_api, checkable = job.compat_import, job.verify, job.scan_api, job.checkable
    outcome = FileOutcome(path=path, root=root, old=raw)
    try:
        source = decode(path, raw)
    except InputError as exc:
        outcome.error = str(exc)
        return outcome
    text = source.text
    used: set = set()  # (ordinal, code) of sites a suppression comment suppressed
    if codes:
        too_big = _over_libcst_limits(raw)
        if too_big:
            outcome.error = too_big
            return outcome
    if codes or not scan_api:
        need_tree = bool(codes)
    else:
        from ..codemods.apiscan.scan import needs_tree

        need_tree = needs_tree(text, target)
    tree, rejected = _python_rejects(text, path, need_tree)
    if rejected:
        outcome.error = rejected
        return outcome
    if codes:
        rules = _rules_for(codes, target)
        from ..codemods.engine.transform import CannotParse, LossyInput, RuleBug, cst, transform_source

        try:
            try:
                result = transform_source(text, rules, str(path), compat_import, target, tree=tree)
            except cst.ParserSyntaxError as exc:
                outcome.error = _syntax_error(text, exc)
                return outcome
            except CannotParse as exc:
                outcome.error = str(exc)
                return outcome
            if verify and result.code is not None:
                again = transform_source(result.code, rules, str(path), compat_import, target, tree=result.tree,
                                         reuse=result.reuse)
                if again.code is not None:
                    raise RuleBug(f"rules {sorted({s.code for s in again.sites if s.status == 'patched'})} are not idempotent here")
                used |= again.suppressed
            used |= result.suppressed
        except RuleBug as exc:
            outcome.error = f"internal error: {exc}"
            return outcome
        except LossyInput as exc:
            outcome.error = str(exc)
            return outcome
        except Exception as exc:  # a rule crashed on this file: report it, go on with the other files
            detail = str(exc).splitlines()[0] if str(exc) else ""
            outcome.error = f"internal error (please report): {type(exc).__name__}: {detail}"
            return outcome
        outcome.sites = [Site(s.code, outcome.rel, s.line, s.status, s.message) for s in result.sites]
        outcome.needs_compat = result.needs_compat
        if result.code is not None:
            try:
                outcome.new = source.encode(result.code)
            except InputError as exc:  # new code the file's declared encoding cannot hold
                outcome.error = str(exc)
                return outcome
            text = result.code
        tree = result.tree
    hits: set = set()
    if scan_api:
        from ..codemods.apiscan.scan import scan

        outcome.sites += [Site(s.code, outcome.rel, s.line, s.status, s.message)
                          for s in scan(text, outcome.rel, target, tree, hits)]
    if checkable is not None and "sam3d-codemod" in source.text:
        from ..codemods.engine.suppressions import unused_sites

        outcome.sites += unused_sites(source.text, text, used, hits, outcome.rel, checkable, _known_codes())
    return outcome


@lru_cache(maxsize=None)
def _known_codes() -> Tuple[str, ...]:
    from ..codemods.rules import every_rule

    return tuple(r.code for r in every_rule())


def _load_api_table(target: str) -> None:
    """The TC100 scan's table (~25 ms), loaded once: before the workers fork, they inherit it."""
    from ..codemods.apiscan.scan import scan

    scan("import torch\n", "<warm-up>", target)


def _warm_up() -> None:
    """What every LibCST job needs, loaded once in the first worker, before it forks the others."""
    from ..codemods.engine import transform  # noqa: F401  (imports libcst)


def _worker_died(job: FileJob) -> FileOutcome:
    return FileOutcome(path=job.path, root=job.root, old=job.raw, error="internal error (please report): the worker process "
                       "transforming this file died")


def _checkable(rules: Sequence[Rule], options, scan_api: bool) -> Optional[Tuple[str, ...]]:
    """The codes a TC101 finding may name (this run could have suppressed them), or None when TC101 is off."""
    if not check_enabled(UNUSED_SUPPRESSION_CODE, options.select, options.ignore):
        return None
    return tuple(r.code for r in rules) + ("TC000", UNUSED_SUPPRESSION_CODE) + (("TC100",) if scan_api else ())
