"""The statement path: only the statements some rule's pre-filter matches go through LibCST, each
parsed on its own; the rest of the file is kept as text and the rewrites are spliced back in.
Where that could differ from parsing the whole module it raises ``WholeModule``."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import List, Optional, Union

from ..base import LINE_END, FileContext, ImportIndex, SourceLines, first_line
from ..rules import routes
from .imports import insertion_group
from .lossy import NOT_ROUND_TRIP
from .positions import SnippetLines
from .prefilter import DEFS, build_index, def_hotness, hot_matcher
from .results import Reuse, Rewritten, TransformResult, WholeModule, ast_parse, unhosted
from .suppressions import run_suppressed
from .traversal import Walker, cst, handler_maps

DESCEND_MIN_LINES = 12  # smaller defs are parsed whole: one parse call costs more than a few lines
_COMPOUND = tuple(getattr(ast, name) for name in (  # Match from Python 3.10, TryStar from 3.11
    "FunctionDef", "AsyncFunctionDef", "ClassDef", "If", "For", "AsyncFor", "While", "With", "AsyncWith", "Try",
    "Match", "TryStar") if hasattr(ast, name))


def _groups(body) -> List[list]:
    """Statements as LibCST sees them: simple statements sharing a line (``a; b``) are one."""
    groups: List[list] = []
    for stmt in body:
        last = groups[-1][-1] if groups else None
        if last is not None and not isinstance(last, _COMPOUND) and stmt.lineno == last.end_lineno:
            groups[-1].append(stmt)
        else:
            groups.append([stmt])
    return groups


@dataclass
class _Region:
    first: int  # first line (1-based), decorators included
    last: int
    nodes: list  # the ast statements it holds
    top: int  # index of the top-level group it is part of
    indent: str = ""  # "" at module level; else parsed as the body of ``if 1:``
    new_text: Optional[str] = None


class StatementPlan:
    """Which lines go through LibCST: hot top-level statements, and inside a hot def or class whose
    header is cold, only its hot statements (no rule's meaning depends on an enclosing def/class)."""

    def __init__(self, text: str, tree: ast.Module, hot) -> None:
        self.text = text
        self.lines = SourceLines(text)
        self.hot = hot
        self.regions: List[_Region] = []
        self.top_groups = _groups(tree.body)
        for i, group in enumerate(self.top_groups):
            self._add(group, i, nested=False)

    def _add(self, group: list, top: int, nested: bool) -> None:
        lines = self.lines
        first, last = first_line(group[0]), group[-1].end_lineno
        if not self.hot(lines.span(first, last)):
            return
        if lines.span(last, last).rstrip("\r\n").endswith("\\"):
            raise WholeModule  # a backslash joins the next line to this statement
        node = group[0]
        if len(group) == 1 and isinstance(node, DEFS) and last - first + 1 >= DESCEND_MIN_LINES:
            body_line = first_line(node.body[0])
            if not lines.span(body_line, body_line)[: node.body[0].col_offset].strip() \
                    and not self.hot(lines.span(first, body_line - 1)) and not self._hot_fall_through(node.body):
                for child in _groups(node.body):
                    self._add(child, top, nested=True)
                return
        indent = ""
        if nested:
            head = lines.span(first, first)
            indent = head[: len(head) - len(head.lstrip(" \t"))]
            if not indent:
                raise WholeModule
        self.regions.append(_Region(first, last, group, top, indent))


    def _hot_fall_through(self, body) -> bool:
        """Whether a hot ``if`` in ``body`` has no ``else`` and leaves the block (return, raise,
        continue, break): a gate rule reads the statements after it as its other branch
        (rules/_gates.py), so the def is parsed whole."""
        for stmt in body:
            if isinstance(stmt, ast.If) and not stmt.orelse and isinstance(stmt.body[-1], _JUMPS) \
                    and self.hot(self.lines.span(first_line(stmt), stmt.end_lineno or stmt.lineno)):
                return True
        return False


_JUMPS = (ast.Return, ast.Raise, ast.Continue, ast.Break)


def _prologue(region_indent: str, indent: str, newline: str) -> str:
    """Lines parsed before a statement so LibCST sees the file's first indentation and newline
    (new blocks copy them) and, for a statement in a def or class body, its indentation."""
    if not region_indent:
        return f"if 1:{newline}{indent}pass{newline}"
    if region_indent == indent:
        return f"if 1:{newline}"
    if region_indent.startswith(indent):
        return f"if 1:{newline}{indent}if 1:{newline}"
    raise WholeModule


def _detect_layout(lines: SourceLines, tree: ast.Module):
    """LibCST's module defaults without a LibCST parse: the first newline, and the first indented
    block's indentation (necessarily under a top-level statement)."""
    m = LINE_END.search(lines.text)
    newline = m.group() if m else "\n"
    indent = "    "
    for node in tree.body:
        if not isinstance(node, _COMPOUND):
            continue
        first = node.body[0]
        line_no = first_line(first)
        line = lines.span(line_no, line_no)
        prefix = line[: first.col_offset]
        if line_no > node.lineno and prefix and not prefix.strip():
            indent = prefix
            break
        if node.end_lineno != node.lineno:
            raise WholeModule  # an else/except block or a multi-line one-liner: not worth guessing
    return newline, indent


_IDENT = re.compile(r"[^\W\d]\w*")


def _same_bindings(before: ImportIndex, after: ImportIndex, snippet: str) -> bool:
    """Whether every name in ``snippet`` resolves alike under both indexes, and no module it could
    reach changed from unloaded to loaded: then rules treat the statement alike too."""
    words = set(_IDENT.findall(snippet))
    if any(before.aliases.get(w) != after.aliases.get(w) for w in words):
        return False
    return not any(m.rsplit(".", 1)[-1] in words for m in before.loaded ^ after.loaded)


def transform(text, tree, rules, path, compat_import, target, reuse=None) -> Union[TransformResult, Rewritten]:
    index = build_index(text, tree)
    ctx = FileContext(path=path, compat_import=compat_import, index=index, target=target, routes=routes())
    return run_suppressed(text, ctx, lambda: _transform(text, tree, rules, ctx, reuse))


def _transform(text, tree, rules, ctx: FileContext, reuse) -> Union[TransformResult, Rewritten]:
    index, compat_import = ctx.index, ctx.compat_import
    hot = hot_matcher(rules, index)
    plan = StatementPlan(text, tree, hot)
    newline, indent = _detect_layout(plan.lines, tree) if plan.regions else ("\n", "    ")
    handlers = [rule.transformer(ctx) for rule in rules if rule.transformer is not None]
    visitors, leavers = handler_maps(handlers)
    keep_alive = []  # sites are deduplicated by node id: no parsed node may be freed and its id reused
    untouched = set()
    for region in plan.regions:
        snippet = plan.lines.span(region.first, region.last)
        header = _prologue(region.indent, indent, newline)
        if reuse is not None and header + snippet in reuse.texts and _same_bindings(reuse.index, index, snippet):
            continue  # the first pass left this statement alone under the same bindings: it would again
        asked = (len(ctx.needed_modules), ctx.needs_compat)
        try:
            module = cst.parse_module(header + snippet)
        except Exception:  # the whole-module parse gives the error with the file's own line numbers
            raise WholeModule from None
        if module.default_indent != indent or module.default_newline != newline:
            raise WholeModule
        if NOT_ROUND_TRIP.search(snippet) and module.code != header + snippet:
            raise WholeModule
        ctx.positions = SnippetLines(header + snippet, module, region.first - 1 - header.count(newline))
        for handler in handlers:
            handler.reset()
        defs = def_hotness(text, None, hot, plan.lines, region.nodes)
        new_module = Walker(visitors, leavers, defs).walk(module)
        keep_alive.append((module, new_module))
        if new_module is not module:
            code = new_module.code
            if not code.startswith(header):
                raise WholeModule
            code = code[len(header):]
            if code != snippet:
                region.new_text = code
        if region.new_text is None and asked == (len(ctx.needed_modules), ctx.needs_compat):
            untouched.add(header + snippet)
    reused = Reuse(untouched, index)
    if ctx.needs_compat and compat_import is None:
        return TransformResult(None, unhosted(ctx.sites), tree=tree, reuse=reused)
    compat = compat_import if ctx.needs_compat and not index.has_compat_import else None
    changed = [r for r in plan.regions if r.new_text is not None]
    new_lines = [f"import {m}" for m in ctx.needed_modules] + ([compat] if compat is not None else [])
    if not changed and not new_lines or not any(s.status == "patched" for s in ctx.sites) and not ctx.needed_modules:
        return TransformResult(None, ctx.sites, ctx.needs_compat, tree, reused)
    lines = plan.lines
    # (start, end, replacement) in file order; the imports go before a statement starting there.
    edits = [(lines.start(r.first), 1, lines.end(r.last), r.new_text) for r in changed]
    if new_lines:
        groups = plan.top_groups
        if not groups:
            raise WholeModule
        effective = list(groups)
        for region in changed:
            if not region.indent and region.new_text is not None:  # a rewritten top-level statement counts as it now reads
                rewritten = ast_parse(region.new_text)
                if rewritten is None or not rewritten.body:
                    raise WholeModule
                effective[region.top] = rewritten.body
        at = insertion_group(effective)
        if compat is not None:
            first_new = min((r.top for r in changed if r.top < at), default=None)
            if first_new is not None:
                at = first_new
        if at == 0:
            at_offset = lines.start(first_line(groups[0][0]))
        else:
            at_offset = lines.end(groups[at - 1][-1].end_lineno)
            if isinstance(effective[at - 1][-1], _COMPOUND) or not text[:at_offset].endswith(("\n", "\r")):
                raise WholeModule  # a block's trailing comments, or no newline at the end of the file
        edits.append((at_offset, 0, at_offset, "".join(line + newline for line in new_lines)))
    pieces = []
    pos = 0
    for start, _, end, replacement in sorted(edits):
        pieces += [text[pos:start], replacement]
        pos = end
    pieces.append(text[pos:])
    code = "".join(pieces)
    if code == text:
        return TransformResult(None, ctx.sites, ctx.needs_compat, tree, reused)
    return Rewritten(code, ctx, index, reused)
