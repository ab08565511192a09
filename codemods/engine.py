"""Apply a set of rules to one module's source: parse once, one traversal, insert imports, re-parse.

This is the library entry point (``transform_source``); the CLI runner adds discovery, files and reports.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import libcst as cst

from .base import COMPAT_MODULE, SUPPRESS_RE, FileContext, ImportIndex, Rule, Site, dotted_name


class RuleBug(Exception):
    """A rule produced code that does not parse: a bug in the tool, reported per file."""


@dataclass
class TransformResult:
    code: Optional[str]  # new source, or None when nothing changed
    sites: List[Site] = field(default_factory=list)
    needs_compat: bool = False


def dotted(name: str) -> cst.BaseExpression:
    parts = name.split(".")
    node: cst.BaseExpression = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def build_index(text: str, tree: Optional[ast.AST] = None) -> ImportIndex:
    """Import aliases from Python's own parser: a C-speed pass instead of a LibCST visitor."""
    index = ImportIndex()
    if tree is None:
        tree = _ast_parse(text)
    if tree is None:
        return index  # LibCST parsed it (newer grammar?); rules then see no aliases

    def walk(nodes, module_level: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        index.aliases.setdefault(alias.asname, alias.name)
                        if alias.asname == COMPAT_MODULE and alias.name.endswith("." + COMPAT_MODULE):
                            index.has_compat_import = True
                    else:
                        root = alias.name.split(".")[0]
                        index.aliases.setdefault(root, root)
                    if module_level:
                        index.loaded.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    local = alias.asname or alias.name
                    if alias.name == COMPAT_MODULE and local == COMPAT_MODULE:
                        index.has_compat_import = True
                    if node.level or node.module is None or alias.name == "*":
                        continue
                    qualified = f"{node.module}.{alias.name}"
                    index.aliases.setdefault(local, qualified)
                    if module_level:
                        index.loaded.add(qualified)  # `from torch import _dynamo` loads the submodule
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                walk(node.body, False)
            else:
                for field_name in ("body", "orelse", "finalbody", "handlers"):
                    walk(getattr(node, field_name, ()) or (), module_level)

    walk(tree.body, True)
    return index


def _ast_parse(text: str) -> Optional[ast.AST]:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


_NEWLINE = re.compile(r"\r\n|\r|\n")  # what Python's tokenizer counts as a line end (not \f, \v, ...)


def hot_matcher(rules: Sequence[Rule], index: ImportIndex):
    """What makes a def worth visiting: some rule's pre-filter (triggers, then pattern) matches its
    source, or it mentions a local name bound to something a rule cares about
    (``from torch.utils._pytree import tree_map as tm``)."""
    checks = []
    for rule in rules:
        trig = re.compile("|".join(re.escape(t) for t in rule.triggers))
        checks.append((trig, re.compile(rule.pattern) if rule.pattern else None))
    triggers = [t for rule in rules for t in rule.triggers]
    locals_ = [re.escape(local) for local, qualified in index.aliases.items() if any(t in qualified for t in triggers)]
    alias = re.compile(r"\b(?:%s)\b" % "|".join(locals_)) if locals_ else None

    def hot(source: str) -> bool:
        if alias is not None and alias.search(source):
            return True
        return any(trig.search(source) and (pat is None or pat.search(source)) for trig, pat in checks)

    return hot


def def_hotness(text: str, tree: Optional[ast.AST], hot):
    """Pre-order list of (name, hot, index after subtree) for every def/class; hot = its source matches."""
    if tree is None:
        return None
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    defs.sort(key=lambda n: (n.lineno, n.col_offset))
    starts = [0] + [m.end() for m in _NEWLINE.finditer(text)] + [len(text)]
    out = []
    for i, node in enumerate(defs):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = node.end_lineno or node.lineno
        is_hot = hot(text[starts[first - 1]:starts[min(end, len(starts) - 1)]])
        after = i + 1
        while after < len(defs) and defs[after].lineno <= end:
            after += 1
        out.append((node.name, is_hot, after))
    return out


def _handler_maps(handlers: Sequence[object]):
    visitors: Dict[str, list] = {}
    leavers: Dict[str, list] = {}
    for handler in handlers:
        for attr in dir(type(handler)):
            if attr.startswith("visit_"):
                visitors.setdefault(attr[6:], []).append(getattr(handler, attr))
            elif attr.startswith("leave_"):
                leavers.setdefault(attr[6:], []).append(getattr(handler, attr))
    return visitors, leavers


def _leave(leavers, original_node, updated_node):
    handlers = leavers.get(type(original_node).__name__)
    if not handlers:
        return updated_node
    node_type = type(updated_node)
    for leave in handlers:
        updated_node = leave(original_node, updated_node)
        if type(updated_node) is not node_type:
            break  # replaced by another kind of node: later rules see it on a second run
    return updated_node


class _MultiRuleTransformer(cst.CSTTransformer):
    """Dispatches each node to every enabled rule's ``visit_<Type>``/``leave_<Type>`` in one pass.

    A LibCST transformer rebuilds every node it enters, so functions and classes whose source
    has no trigger token are skipped whole (``cold_defs``, found with Python's C parser).
    """

    def __init__(self, visitors, leavers, defs=None) -> None:
        super().__init__()
        self.visitors = visitors
        self.leavers = leavers
        self.defs = defs  # [(name, hot, index after its subtree)] in pre-order, or None
        self.def_index = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        name = type(node).__name__
        if self.defs is not None and name in ("FunctionDef", "ClassDef"):
            i = self.def_index
            if i >= len(self.defs) or self.defs[i][0] != node.name.value:
                self.defs = None  # the two parsers disagree: stop pruning, stay correct
            else:
                def_name, hot, after = self.defs[i]
                if not hot:
                    self.def_index = after
                    return False
                self.def_index = i + 1
        for visit in self.visitors.get(name, ()):
            visit(node)
        return name not in ("Import", "ImportFrom")  # import names are not uses

    def on_leave(self, original_node, updated_node):
        return _leave(self.leavers, original_node, updated_node)


def _suppressions(text: str) -> Dict[int, Optional[set]]:
    found: Dict[int, Optional[set]] = {}
    if "sam3d-codemod" not in text:
        return found
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = SUPPRESS_RE.search(line)
        if m:
            found[lineno] = {c.strip() for c in m.group(1).split(",")} if m.group(1) else None
    return found


class _SnippetLines:
    """Line numbers, cheaply where that is exact.

    LibCST is lossless, so a node's own code is a substring of the source. When that substring
    occurs once, its line is the node's line; only when it occurs again (a comment, a string, a
    repeated call) does this fall back to PositionProvider, a full extra pass over the module.
    """

    def __init__(self, text: str, module: cst.Module) -> None:
        self.text = text
        self.module = module
        self._positions = None
        self._empty = cst.Module(body=[])

    def get(self, node):
        probe = node.with_changes(leading_lines=()) if hasattr(node, "leading_lines") else node
        if isinstance(probe, (cst.FunctionDef, cst.ClassDef)) and probe.decorators:
            probe = probe.decorators[0]
        code = self._empty.code_for_node(probe).strip()
        snippet = code.splitlines()[0] if "\n" in code else code  # bodies render at another indent
        at = self.text.find(snippet) if snippet else -1
        if at >= 0 and self.text.find(snippet, at + 1) < 0:
            return self.text.count("\n", 0, at) + 1
        return self._exact(node)

    def _exact(self, node):
        if self._positions is None:
            from libcst.metadata import MetadataWrapper, PositionProvider

            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        pos = self._positions.get(node)
        return pos.start.line if pos is not None else None


_NOT_ROUND_TRIP = re.compile(r"[\f\v]|\r(?!\n)")


def may_lose_bytes(text: str) -> bool:
    """Inputs LibCST may not print back byte for byte (found by fuzzing): form feeds, vertical
    tabs, lone CRs, and indented blank or comment lines after the last statement. Those get a
    full reprint check; everything else round-trips."""
    if _NOT_ROUND_TRIP.search(text):
        return True
    for line in reversed(text.splitlines()[-50:]):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return False  # reached the last statement
        if line[:1] in (" ", "\t"):
            return True
    return False


class LossyInput(Exception):
    """LibCST cannot reproduce this file byte for byte; rewriting it would lose bytes elsewhere."""


def _is_import_line(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def _is_torch_import(stmt) -> bool:
    if not _is_import_line(stmt):
        return False
    for s in stmt.body:
        if isinstance(s, cst.Import) and any((dotted_name(a.name) or "").split(".")[0] == "torch" for a in s.names):
            return True
        if isinstance(s, cst.ImportFrom) and s.module is not None and (dotted_name(s.module) or "").split(".")[0] == "torch":
            return True
    return False


def _insertion_index(body: Sequence[cst.BaseStatement]) -> int:
    """After the first ``import torch`` line, else after the leading block of imports/docstring."""
    leading_end = 0
    for i, stmt in enumerate(body):
        if _is_torch_import(stmt):
            return i + 1
        if _is_import_line(stmt) or (
            i == 0 and isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
        ):
            leading_end = i + 1
            continue
        break
    # No import torch among the leading lines: look further for one at module level.
    for i, stmt in enumerate(body):
        if _is_torch_import(stmt):
            return i + 1
    return leading_end


def _add_imports(module: cst.Module, original: cst.Module, modules: List[str], compat_stmt: Optional[str]) -> cst.Module:
    new_lines = [cst.SimpleStatementLine([cst.Import([cst.ImportAlias(dotted(m))])]) for m in modules]
    if compat_stmt is not None:
        new_lines.append(cst.parse_statement(compat_stmt + "\n"))
    if not new_lines:
        return module
    body = list(module.body)
    at = _insertion_index(body)
    if compat_stmt is not None:
        # A rewritten top-level statement above the anchor (a guarded import) may use the helpers.
        same = len(body) == len(original.body)
        first_new = next(
            (i for i, stmt in enumerate(body[:at]) if not same or not stmt.deep_equals(original.body[i])), None
        )
        if first_new is not None:
            at = first_new
    return module.with_changes(body=body[:at] + new_lines + body[at:])


def transform_module(
    module: cst.Module,
    text: str,
    rules: Sequence[Rule],
    path: str = "<string>",
    compat_import: Optional[str] = "from . import _torch_compat",
    target: str = "2.0",
    _depth: int = 0,
) -> TransformResult:
    tree = _ast_parse(text)
    index = build_index(text, tree)
    ctx = FileContext(path=path, compat_import=compat_import, index=index, target=target)
    ctx.positions = _SnippetLines(text, module)
    ctx.suppressed = _suppressions(text)
    handlers = [rule.transformer(ctx) for rule in rules if rule.transformer is not None]
    defs = def_hotness(text, tree, hot_matcher(rules, index))
    new_module = module.visit(_MultiRuleTransformer(*_handler_maps(handlers), defs))
    if ctx.needs_compat and compat_import is None:
        # No package to host the helpers: keep the file as it was and say why.
        return TransformResult(None, [Site(s.code, s.path, s.line, "unhandled", s.message + " (no package to host _torch_compat)") if s.status == "patched" else s for s in ctx.sites])
    compat = compat_import if ctx.needs_compat and not index.has_compat_import else None
    new_module = _add_imports(new_module, module, ctx.needed_modules, compat)
    if new_module is module or not any(s.status == "patched" for s in ctx.sites) and not ctx.needed_modules:
        return TransformResult(None, ctx.sites, ctx.needs_compat)
    code = new_module.code
    if code == text:
        return TransformResult(None, ctx.sites, ctx.needs_compat)
    if may_lose_bytes(text) and module.code != text:
        reprinted = module.code
        at = next((i for i, (a, b) in enumerate(zip(text, reprinted)) if a != b), min(len(text), len(reprinted)))
        raise LossyInput(f"LibCST cannot reproduce this file byte for byte (line {text.count(chr(10), 0, at) + 1}: "
                         "form feed, lone CR, or trailing indented lines); left unchanged")
    new_roots = {m.split(".")[0] for m in ctx.needed_modules} - set(index.aliases)
    if new_roots and _depth < 2:
        # `import torch._dynamo` binds `torch` where nothing did: uses of it resolve only now.
        again = transform_source(code, rules, path, compat_import, target, _depth=_depth + 1)
        if again.code is not None:
            return TransformResult(again.code, ctx.sites + again.sites, ctx.needs_compat or again.needs_compat)
    try:
        ast.parse(code)  # C-speed check that the output is valid Python
    except (SyntaxError, ValueError) as exc:
        raise RuleBug(f"rules {sorted({s.code for s in ctx.sites})} produced unparsable code: {exc}") from None
    return TransformResult(code, ctx.sites, ctx.needs_compat)


def transform_source(
    text: str,
    rules: Sequence[Rule],
    path: str = "<string>",
    compat_import: Optional[str] = "from . import _torch_compat",
    target: str = "2.0",
    _depth: int = 0,
) -> TransformResult:
    """Parse ``text`` and apply ``rules``. Raises ``libcst.ParserSyntaxError`` on bad input,
    ``LossyInput`` where LibCST cannot round-trip the file."""
    return transform_module(cst.parse_module(text), text, rules, path, compat_import, target, _depth)
