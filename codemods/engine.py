"""Apply a set of rules to one module's source: parse once, one traversal, insert imports, re-parse.

This is the library entry point (``transform_source``); the CLI runner adds discovery, files and reports.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, Optional, Sequence

from .libcst_loader import load as _load_libcst

cst = _load_libcst()  # before any other libcst import: it compiles libcst's dataclasses once per machine
from libcst._nodes.internal import CodegenState  # noqa: E402

from . import version_flags
from .base import (COMPAT_MODULE, LINE_END, SUPPRESS_RE, FileContext, ImportIndex, Rule, Site, SourceLines, dotted_name,
                   first_line, parse_quietly)


class CannotParse(Exception):
    """LibCST failed on the input with something other than a syntax error."""


class RuleBug(Exception):
    """A rule produced code that does not parse: a bug in the tool, reported per file."""


@dataclass
class TransformResult:
    code: Optional[str]  # new source, or None when nothing changed
    sites: List[Site] = field(default_factory=list)
    needs_compat: bool = False
    tree: Optional[ast.AST] = field(default=None, repr=False)  # ast of the result (``code``, else the input)
    reuse: Optional["_Reuse"] = field(default=None, repr=False)  # for the idempotence pass over ``code``

    def __post_init__(self) -> None:
        self.sites = sorted(self.sites, key=lambda s: s.line)  # file order, whichever rule found it


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
    version_flags.note(tree, index)  # hand-patch version gates (TC015)
    return index


def _ast_parse(text: str) -> Optional[ast.AST]:
    try:
        return parse_quietly(text)
    except (SyntaxError, ValueError):
        return None




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


def def_hotness(text: str, tree: Optional[ast.AST], hot, lines: Optional[SourceLines] = None, roots=None):
    """Pre-order list of (name, hot, index after subtree) for every def/class under ``roots``
    (default: the whole tree); hot = its source matches."""
    if tree is None and roots is None:
        return None
    if roots is None:
        roots = [tree]
    defs = [n for root in roots for n in ast.walk(root) if isinstance(n, _DEFS)]
    defs.sort(key=lambda n: (n.lineno, n.col_offset))
    if lines is None:
        lines = SourceLines(text)
    out = []
    for i, node in enumerate(defs):
        end = node.end_lineno or node.lineno
        is_hot = hot(lines.span(first_line(node), end))
        after = i + 1
        while after < len(defs) and defs[after].lineno <= end:
            after += 1
        out.append((node.name, is_hot, after))
    return out


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


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


class _Walker(_MultiRuleTransformer):
    """The same dispatch without LibCST's generic traversal, which rebuilds every node it enters:
    only the path from a replaced node up to the root is rebuilt (``with_changes``), and subtrees
    no handler can act in (names, literals, whitespace, operators) are not entered."""

    def __init__(self, visitors, leavers, defs=None) -> None:
        super().__init__(visitors, leavers, defs)
        self.inert = _inert_types(frozenset(visitors) | frozenset(leavers))
        self.nodes = _node_types()

    def walk(self, node):
        if not self.on_visit(node):
            return self.on_leave(node, node)
        inert, nodes = self.inert, self.nodes
        changes = None
        for name in _child_fields(type(node)):
            value = getattr(node, name)
            if type(value) in nodes:
                if type(value) in inert:
                    continue
                new = self.walk(value)
                if new is not value:
                    changes = changes or {}
                    changes[name] = new
            elif isinstance(value, (tuple, list)) and value:
                items = None
                for i, item in enumerate(value):
                    if type(item) in nodes and type(item) not in inert:
                        new = self.walk(item)
                        if new is not item:
                            items = items or list(value)
                            items[i] = new
                if items is not None:
                    changes = changes or {}
                    changes[name] = type(value)(items)
        return self.on_leave(node, node.with_changes(**changes) if changes else node)


_FIELDS: Dict[type, tuple] = {}
# Where a node's dataclass fields are not in source order, LibCST's own visiting order (libcst 1.x,
# checked against its source by tests/codemods/test_statement_path.py): rules see decorators before
# the body, `a` before `t` in `a if t else b`, and ask for imports in that order.
_SOURCE_ORDER = {
    "Arg": ("keyword", "value"),
    "ClassDef": ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    "ExceptHandler": ("type", "name", "body"),
    "ExceptStarHandler": ("type", "name", "body"),
    "FunctionDef": ("decorators", "name", "type_parameters", "params", "returns", "body"),
    "IfExp": ("body", "test", "orelse"),
    "MatchCase": ("pattern", "guard", "body"),
    "Parameters": ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    "TypeAlias": ("name", "type_parameters", "value"),
}


def _child_fields(cls) -> tuple:
    names = _FIELDS.get(cls)
    if names is None:
        import dataclasses

        fields = tuple(f.name for f in dataclasses.fields(cls))
        first = tuple(n for n in _SOURCE_ORDER.get(cls.__name__, ()) if n in fields)
        names = _FIELDS[cls] = first + tuple(n for n in fields if n not in first)
    return names


@lru_cache(maxsize=None)
def _node_types() -> frozenset:
    """Every LibCST node class. ``type(x) in`` this set, not ``isinstance(x, CSTNode)``: CSTNode
    is an ABC, whose first check of each other type (str, tuple, None, ...) walks all ~250
    subclasses (~25 ms in a fresh process)."""
    found, stack = set(), [cst.CSTNode]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return frozenset(found)


@lru_cache(maxsize=None)
def _inert_types(handled: frozenset) -> frozenset:
    """Node types that cannot hold a node some handler acts on."""
    from libcst._nodes import op, whitespace

    inert = {cst.Name, cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary, cst.Ellipsis}
    for module in (op, whitespace):
        inert.update(v for v in vars(module).values() if isinstance(v, type) and v in _node_types())
    return frozenset(t for t in inert if t.__name__ not in handled)


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

    def __init__(self, text: str, module: cst.Module, offset: int = 0) -> None:
        self.text = text
        self.module = module
        self.offset = offset  # lines above ``text`` in the file (a statement parsed on its own)
        self._positions = None
        self._empty = cst.Module(body=[])

    def get(self, node):
        probe = node.with_changes(leading_lines=()) if hasattr(node, "leading_lines") else node
        if isinstance(probe, (cst.FunctionDef, cst.ClassDef)) and probe.decorators:
            probe = probe.decorators[0]
        code = _first_line_code(probe, self._empty).strip()
        snippet = code.splitlines()[0] if "\n" in code else code  # bodies render at another indent
        at = self.text.find(snippet) if snippet else -1
        if at >= 0 and self.text.find(snippet, at + 1) < 0:
            lines = self.text.count("\n", 0, at) if "\r" not in self.text else len(LINE_END.findall(self.text, 0, at))
            return lines + 1 + self.offset
        return self._exact(node)

    def _exact(self, node):
        if self._positions is None:
            from libcst.metadata import MetadataWrapper, PositionProvider

            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        pos = self._positions.get(node)
        return pos.start.line + self.offset if pos is not None else None


class _FirstLineDone(Exception):
    pass


class _FirstLineState(CodegenState):
    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if ("\n" in value or "\r" in value) and "".join(self.tokens).strip():
            raise _FirstLineDone


def _first_line_code(node, module) -> str:
    """``module.code_for_node(node)`` up to the end of its first non-blank line: a site's line
    needs no more, and rendering a whole ``if`` block for it would cost as much as the rest."""
    state = _FirstLineState(default_indent=module.default_indent, default_newline=module.default_newline)
    try:
        node._codegen(state)
    except _FirstLineDone:
        pass
    return "".join(state.tokens)


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


def _anchor(items, is_torch_import, is_import_line, is_docstring) -> int:
    """Where inserted imports go: after the first ``import torch`` line, else after the leading
    block of imports/docstring. ``items``: a module's statements, as LibCST or ``ast`` sees them."""
    leading_end = 0
    for i, item in enumerate(items):
        if is_torch_import(item):
            return i + 1
        if is_import_line(item) or (i == 0 and is_docstring(item)):
            leading_end = i + 1
            continue
        break
    # No import torch among the leading lines: look further for one at module level.
    for i, item in enumerate(items):
        if is_torch_import(item):
            return i + 1
    return leading_end


def _is_cst_docstring(stmt) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _insertion_index(body: Sequence[cst.BaseStatement]) -> int:
    return _anchor(body, _is_torch_import, _is_import_line, _is_cst_docstring)


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
    tree: Optional[ast.AST] = None,
) -> TransformResult:
    """The whole-module path: every statement through LibCST. ``transform_source`` takes it only
    where parsing statement by statement cannot be exact; tests compare the two."""
    if tree is None:
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
        return TransformResult(None, _unhosted(ctx.sites), tree=tree)
    compat = compat_import if ctx.needs_compat and not index.has_compat_import else None
    new_module = _add_imports(new_module, module, ctx.needed_modules, compat)
    if new_module is module or not any(s.status == "patched" for s in ctx.sites) and not ctx.needed_modules:
        return TransformResult(None, ctx.sites, ctx.needs_compat, tree)
    code = new_module.code
    if code == text:
        return TransformResult(None, ctx.sites, ctx.needs_compat, tree)
    if may_lose_bytes(text) and module.code != text:
        reprinted = module.code
        at = next((i for i, (a, b) in enumerate(zip(text, reprinted)) if a != b), min(len(text), len(reprinted)))
        raise LossyInput(f"LibCST cannot reproduce this file byte for byte (line {text.count(chr(10), 0, at) + 1}: "
                         "form feed, lone CR, or trailing indented lines); left unchanged")
    return _finish(code, ctx, index, rules, path, compat_import, target, _depth)


def _unhosted(sites: List[Site]) -> List[Site]:
    """No package to host the helpers: the file is kept as it was, and its patches become unhandled."""
    return [Site(s.code, s.path, s.line, "unhandled", s.message + " (no package to host _torch_compat)")
            if s.status == "patched" else s for s in sites]


def _finish(code: str, ctx: FileContext, index: ImportIndex, rules, path, compat_import, target, depth) -> TransformResult:
    new_roots = {m.split(".")[0] for m in ctx.needed_modules} - set(index.aliases)
    if new_roots and depth < 2:
        # `import torch._dynamo` binds `torch` where nothing did: uses of it resolve only now.
        again = transform_source(code, rules, path, compat_import, target, _depth=depth + 1)
        if again.code is not None:
            return TransformResult(again.code, ctx.sites + again.sites, ctx.needs_compat or again.needs_compat, again.tree,
                                   again.reuse)
    try:
        tree = parse_quietly(code)  # C-speed check that the output is valid Python
    except (SyntaxError, ValueError) as exc:
        raise RuleBug(f"rules {sorted({s.code for s in ctx.sites})} produced unparsable code: {exc}") from None
    return TransformResult(code, ctx.sites, ctx.needs_compat, tree)


def transform_source(
    text: str,
    rules: Sequence[Rule],
    path: str = "<string>",
    compat_import: Optional[str] = "from . import _torch_compat",
    target: str = "2.0",
    _depth: int = 0,
    tree: Optional[ast.AST] = None,
    reuse: Optional["_Reuse"] = None,
) -> TransformResult:
    """Apply ``rules`` to ``text``. Raises ``libcst.ParserSyntaxError`` on bad input,
    ``LossyInput`` where LibCST cannot round-trip the file.

    Only the statements some rule's pre-filter matches go through LibCST, each parsed on its own
    (a method as the body of a dummy ``if 1:``); the rest of the file is kept as text. Layouts
    where that could differ from parsing the whole module take ``transform_module`` instead.
    ``reuse``: the first pass's ``TransformResult.reuse`` when ``text`` is its output (``check``'s
    idempotence proof): statements it left alone are not parsed again.
    """
    if tree is None:
        tree = _ast_parse(text)
    if tree is not None:
        try:
            return _transform_statements(text, tree, rules, path, compat_import, target, _depth, reuse)
        except _WholeModule:
            pass
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        raise
    except Exception as exc:  # the native parser raises a few other errors on odd input
        raise CannotParse(f"cannot parse: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return transform_module(module, text, rules, path, compat_import, target, _depth, tree)


class _WholeModule(Exception):
    """Statement-level parsing cannot be exact here: parse the whole module."""


DESCEND_MIN_LINES = 12  # smaller defs are parsed whole: one parse call costs more than a few lines
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.Match) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


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


class _StatementPlan:
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
            raise _WholeModule  # a backslash joins the next line to this statement
        node = group[0]
        if len(group) == 1 and isinstance(node, _DEFS) and last - first + 1 >= DESCEND_MIN_LINES:
            body_line = first_line(node.body[0])
            if not lines.span(body_line, body_line)[: node.body[0].col_offset].strip() \
                    and not self.hot(lines.span(first, body_line - 1)):
                for child in _groups(node.body):
                    self._add(child, top, nested=True)
                return
        indent = ""
        if nested:
            head = lines.span(first, first)
            indent = head[: len(head) - len(head.lstrip(" \t"))]
            if not indent:
                raise _WholeModule
        self.regions.append(_Region(first, last, group, top, indent))


def _prologue(region_indent: str, indent: str, newline: str) -> str:
    """Lines parsed before a statement so LibCST sees the file's first indentation and newline
    (new blocks copy them) and, for a statement in a def or class body, its indentation."""
    if not region_indent:
        return f"if 1:{newline}{indent}pass{newline}"
    if region_indent == indent:
        return f"if 1:{newline}"
    if region_indent.startswith(indent):
        return f"if 1:{newline}{indent}if 1:{newline}"
    raise _WholeModule


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
            raise _WholeModule  # an else/except block or a multi-line one-liner: not worth guessing
    return newline, indent


def _is_import_group(group) -> bool:
    return all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in group)


def _is_torch_group(group) -> bool:
    if not _is_import_group(group):
        return False
    for s in group:
        if isinstance(s, ast.Import) and any(a.name.split(".")[0] == "torch" for a in s.names):
            return True
        if isinstance(s, ast.ImportFrom) and s.module is not None and s.module.split(".")[0] == "torch":
            return True
    return False


def _insertion_group(groups) -> int:
    """``_insertion_index`` over ast statement groups."""
    first = groups[0][0] if groups else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.JoinedStr):
        raise _WholeModule  # LibCST's ConcatenatedString vs FormattedString: not told apart here
    return _anchor(groups, _is_torch_group, _is_import_group, _is_ast_docstring)


def _is_ast_docstring(group) -> bool:
    first = group[0]
    return (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, (str, bytes)))


@dataclass
class _Reuse:
    """Statements (as parsed, prologue included) a pass left alone, and the imports it resolved with."""

    texts: set
    index: ImportIndex


_IDENT = re.compile(r"[^\W\d]\w*")


def _same_bindings(before: ImportIndex, after: ImportIndex, snippet: str) -> bool:
    """Whether every name in ``snippet`` resolves alike under both indexes, and no module it could
    reach changed from unloaded to loaded: then rules treat the statement alike too."""
    words = set(_IDENT.findall(snippet))
    if any(before.aliases.get(w) != after.aliases.get(w) for w in words):
        return False
    return not any(m.rsplit(".", 1)[-1] in words for m in before.loaded ^ after.loaded)


def _transform_statements(text, tree, rules, path, compat_import, target, depth, reuse=None) -> TransformResult:
    index = build_index(text, tree)
    hot = hot_matcher(rules, index)
    plan = _StatementPlan(text, tree, hot)
    ctx = FileContext(path=path, compat_import=compat_import, index=index, target=target)
    ctx.suppressed = _suppressions(text)
    newline, indent = _detect_layout(plan.lines, tree) if plan.regions else ("\n", "    ")
    handlers = [rule.transformer(ctx) for rule in rules if rule.transformer is not None]
    visitors, leavers = _handler_maps(handlers)
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
            raise _WholeModule from None
        if module.default_indent != indent or module.default_newline != newline:
            raise _WholeModule
        if _NOT_ROUND_TRIP.search(snippet) and module.code != header + snippet:
            raise _WholeModule
        ctx.positions = _SnippetLines(header + snippet, module, region.first - 1 - header.count(newline))
        for handler in handlers:
            handler.reset()
        defs = def_hotness(text, None, hot, plan.lines, region.nodes)
        new_module = _Walker(visitors, leavers, defs).walk(module)
        keep_alive.append((module, new_module))
        if new_module is not module:
            code = new_module.code
            if not code.startswith(header):
                raise _WholeModule
            code = code[len(header):]
            if code != snippet:
                region.new_text = code
        if region.new_text is None and asked == (len(ctx.needed_modules), ctx.needs_compat):
            untouched.add(header + snippet)
    reused = _Reuse(untouched, index)
    if ctx.needs_compat and compat_import is None:
        return TransformResult(None, _unhosted(ctx.sites), tree=tree, reuse=reused)
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
            raise _WholeModule
        effective = list(groups)
        for region in changed:
            if not region.indent:  # a rewritten top-level statement counts as it now reads
                rewritten = _ast_parse(region.new_text)
                if rewritten is None or not rewritten.body:
                    raise _WholeModule
                effective[region.top] = rewritten.body
        at = _insertion_group(effective)
        if compat is not None:
            first_new = min((r.top for r in changed if r.top < at), default=None)
            if first_new is not None:
                at = first_new
        if at == 0:
            at_offset = lines.start(first_line(groups[0][0]))
        else:
            at_offset = lines.end(groups[at - 1][-1].end_lineno)
            if isinstance(effective[at - 1][-1], _COMPOUND) or not text[:at_offset].endswith(("\n", "\r")):
                raise _WholeModule  # a block's trailing comments, or no newline at the end of the file
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
    result = _finish(code, ctx, index, rules, path, compat_import, target, depth)
    if result.reuse is None:  # (a re-run for a newly bound root brings its own)
        result.reuse = reused
    return result
