"""Apply a set of rules to one module's source: parse once, one traversal, insert imports, re-parse.

This is the library entry point (``transform_source``); the CLI runner adds discovery, files and reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .base import COMPAT_MODULE, SUPPRESS_RE, FileContext, ImportIndex, Rule, Site


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


def dotted_name(node) -> Optional[str]:
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


class _IndexBuilder(cst.CSTVisitor):
    """Collects import aliases. Cheap: it descends into nothing but statements."""

    def __init__(self) -> None:
        self.index = ImportIndex()
        self.depth = 0  # def/class nesting; module-level imports count as loaded

    def visit_FunctionDef(self, node) -> None:
        self.depth += 1

    def leave_FunctionDef(self, node) -> None:
        self.depth -= 1

    visit_ClassDef = visit_FunctionDef
    leave_ClassDef = leave_FunctionDef

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.index.aliases.setdefault(alias.asname.name.value, name)
                if name.endswith("." + COMPAT_MODULE) and alias.asname.name.value == COMPAT_MODULE:
                    self.index.has_compat_import = True
            else:
                root = name.split(".")[0]
                self.index.aliases.setdefault(root, root)
            if self.depth == 0:
                self.index.loaded.add(name)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        module = dotted_name(node.module) if node.module is not None else None
        if isinstance(node.names, cst.ImportStar):
            return False
        for alias in node.names:
            name = alias.name.value if isinstance(alias.name, cst.Name) else dotted_name(alias.name)
            local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            if name == COMPAT_MODULE and local == COMPAT_MODULE:
                self.index.has_compat_import = True
            if node.relative or module is None:
                continue
            qualified = f"{module}.{name}"
            self.index.aliases.setdefault(local, qualified)
            if self.depth == 0:
                self.index.loaded.add(qualified)  # `from torch import _dynamo` loads the submodule
        return False

    # Expressions hold no imports; skipping them keeps the index pass cheap.
    def visit_SimpleStatementLine(self, node) -> bool:
        return any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in node.body)


class _MultiRuleTransformer(cst.CSTTransformer):
    """Dispatches each node to every enabled rule's ``visit_<Type>``/``leave_<Type>`` in one pass."""

    def __init__(self, handlers: Sequence[object]) -> None:
        super().__init__()
        self.visitors: Dict[str, list] = {}
        self.leavers: Dict[str, list] = {}
        for handler in handlers:
            for attr in dir(type(handler)):
                if attr.startswith("visit_"):
                    self.visitors.setdefault(attr[6:], []).append(getattr(handler, attr))
                elif attr.startswith("leave_"):
                    self.leavers.setdefault(attr[6:], []).append(getattr(handler, attr))

    def on_visit(self, node: cst.CSTNode) -> bool:
        name = type(node).__name__
        for visit in self.visitors.get(name, ()):
            visit(node)
        # Import names are not uses; rules rewrite import statements in leave_*.
        return name not in ("Import", "ImportFrom")

    def on_leave(self, original_node, updated_node):
        leavers = self.leavers.get(type(original_node).__name__)
        if not leavers:
            return updated_node
        node_type = type(updated_node)
        for leave in leavers:
            updated_node = leave(original_node, updated_node)
            if type(updated_node) is not node_type:
                break  # replaced by another kind of node: later rules see it on a second run
        return updated_node


def build_index(module: cst.Module) -> ImportIndex:
    builder = _IndexBuilder()
    module.visit(builder)
    return builder.index


def _suppressions(text: str) -> Dict[int, Optional[set]]:
    found: Dict[int, Optional[set]] = {}
    if "sam3d-codemod" not in text:
        return found
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = SUPPRESS_RE.search(line)
        if m:
            found[lineno] = {c.strip() for c in m.group(1).split(",")} if m.group(1) else None
    return found


class _LazyPositions:
    """PositionProvider computed on first use: most parsed files report no site."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._positions = None

    def get(self, node):
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions.get(node)


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


def _add_imports(module: cst.Module, modules: List[str], compat_stmt: Optional[str]) -> cst.Module:
    new_lines = [cst.SimpleStatementLine([cst.Import([cst.ImportAlias(dotted(m))])]) for m in modules]
    if compat_stmt is not None:
        new_lines.append(cst.parse_statement(compat_stmt + "\n"))
    if not new_lines:
        return module
    body = list(module.body)
    at = _insertion_index(body)
    return module.with_changes(body=body[:at] + new_lines + body[at:])


def transform_module(
    module: cst.Module,
    text: str,
    rules: Sequence[Rule],
    path: str = "<string>",
    compat_import: Optional[str] = "from . import _torch_compat",
) -> TransformResult:
    index = build_index(module)
    ctx = FileContext(path=path, compat_import=compat_import, index=index)
    ctx.positions = _LazyPositions(module)
    ctx.suppressed = _suppressions(text)
    handlers = [rule.transformer(ctx) for rule in rules if rule.transformer is not None]
    new_module = module.visit(_MultiRuleTransformer(handlers))
    if ctx.needs_compat and compat_import is None:
        # No package to host the helpers: keep the file as it was and say why.
        return TransformResult(None, [Site(s.code, s.path, s.line, "unhandled", s.message + " (no package to host _torch_compat)") if s.status == "patched" else s for s in ctx.sites])
    compat = compat_import if ctx.needs_compat and not index.has_compat_import else None
    new_module = _add_imports(new_module, ctx.needed_modules, compat)
    if new_module is module or not any(s.status == "patched" for s in ctx.sites) and not ctx.needed_modules:
        return TransformResult(None, ctx.sites, ctx.needs_compat)
    code = new_module.code
    if code == text:
        return TransformResult(None, ctx.sites, ctx.needs_compat)
    try:
        cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        raise RuleBug(f"rules {sorted({s.code for s in ctx.sites})} produced unparsable code: {exc.message}") from None
    return TransformResult(code, ctx.sites, ctx.needs_compat)


def transform_source(
    text: str,
    rules: Sequence[Rule],
    path: str = "<string>",
    compat_import: Optional[str] = "from . import _torch_compat",
) -> TransformResult:
    """Parse ``text`` and apply ``rules``. Raises ``libcst.ParserSyntaxError`` on bad input."""
    return transform_module(cst.parse_module(text), text, rules, path, compat_import)
