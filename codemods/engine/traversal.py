"""One traversal for every enabled rule: LibCST's (whole-module path) and a leaner walker (statement path)."""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Dict, Sequence, Set, Tuple, Union, cast

from .libcst_loader import load as _load_libcst

if TYPE_CHECKING:  # mypy sees the module that load() returns
    import libcst as cst
else:
    cst = _load_libcst()  # before any other libcst import: it compiles libcst's dataclasses once per machine


def handler_maps(handlers: Sequence[object]) -> Tuple[Dict[str, list], Dict[str, list]]:
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


class MultiRuleTransformer(cst.CSTTransformer):
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
            if i >= len(self.defs) or self.defs[i][0] != cast("Union[cst.FunctionDef, cst.ClassDef]", node).name.value:
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


class Walker(MultiRuleTransformer):
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
        for name in child_fields(type(node)):
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


def child_fields(cls) -> tuple:
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

    inert: Set[type] = {cst.Name, cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary, cst.Ellipsis}
    for module in (op, whitespace):
        inert.update(v for v in vars(module).values() if isinstance(v, type) and v in _node_types())
    return frozenset(t for t in inert if t.__name__ not in handled)
