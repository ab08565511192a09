"""A torch version gate evaluated for every release the tool supports (TC015).

``torch.__version__ >= "2.0"`` is true on every release from the 2.0 target on; ``< "2.0"`` is
false on all of them. Such a gate is settled: its branch can be kept without asking what it
guards. The test is evaluated as written, once per release string (``"2.0.0"``, ``"2.1.1+cu121"``,
..., up to the next minor and the next major after the newest the API table knows, so a gate on
a future release is never settled). ``torch.__version__`` is a ``TorchVersion``: a ``str`` whose comparisons with a
string or a tuple are numeric (``"2.10.0" >= "2.4"``), as in torch; ``packaging``/``LooseVersion``
parses compare numerically too; module-level flags (``TORCH_MAJOR, TORCH_MINOR = map(int, ...)``) are
evaluated from their own definitions.

Only a small expression language is evaluated (comparisons, ``and``/``or``/``not``, literals,
tuples, subscripts, ``int``/``tuple``/``map``..., a few ``str`` methods, comprehensions);
anything else (a call of user code, a dunder attribute) leaves the gate unsettled. This runs at
codemod time over the user's source: generated code never parses a version string.
"""
from __future__ import annotations

import ast
import re
from typing import Dict, Iterable, List, Optional

from .version_flags import VERSIONS, _qualified

PARSERS = frozenset({
    "packaging.version.parse", "packaging.version.Version", "pkg_resources.parse_version",
    "distutils.version.LooseVersion", "distutils.version.StrictVersion",
    "setuptools._distutils.version.LooseVersion", "pkg_resources.extern.packaging.version.parse",
})
_BUILTINS = {"int": int, "tuple": tuple, "map": map, "str": str, "float": float, "list": list, "len": len,
             "min": min, "max": max, "bool": bool}
_METHODS = frozenset({"split", "startswith", "endswith", "strip", "partition", "rpartition", "lstrip", "rstrip",
                      "rsplit"})
_VERSION_ATTRS = frozenset({"major", "minor", "micro", "release", "base_version", "public"})
_ALLOWED = (ast.Expression, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Not, ast.And, ast.Or, ast.Constant,
            ast.Tuple, ast.List, ast.Subscript, ast.Slice, ast.Load, ast.Store, ast.Name, ast.Call, ast.Attribute,
            ast.GeneratorExp, ast.ListComp,
            ast.comprehension, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
            ast.USub, ast.keyword)


class _Release:
    """What ``packaging.version.parse`` compares for a plain release: the numbers, trailing
    zeros ignored (``2.1 == 2.1.0``); a local tag (``+cu121``) does not change the order here."""

    def __init__(self, text) -> None:
        match = re.match(r"\s*v?(\d+(?:\.\d+)*)", str(text))
        if match is None:
            raise ValueError(text)
        parts = [int(p) for p in match.group(1).split(".")]
        self.release = tuple(parts)
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        self.key = tuple(parts)
        padded = list(self.release) + [0, 0, 0]
        self.major, self.minor, self.micro = padded[:3]
        self.base_version = self.public = ".".join(map(str, self.release))

    def _other(self, other):
        return other.key if isinstance(other, _Release) else _Release(other).key

    def __eq__(self, other):
        return self.key == self._other(other)

    def __lt__(self, other):
        return self.key < self._other(other)

    def __le__(self, other):
        return self.key <= self._other(other)

    def __gt__(self, other):
        return self.key > self._other(other)

    def __ge__(self, other):
        return self.key >= self._other(other)

    # Unhashable, like any class that defines __eq__ without __hash__ (Python sets __hash__ = None for it).


class _TorchVersion(str):
    """``torch.torch_version.TorchVersion``: a str compared as a version with str, tuple or Version."""

    def _key(self, other):
        if isinstance(other, tuple):
            other = ".".join(str(p) for p in other)
        return _Release(self).key, (other.key if isinstance(other, _Release) else _Release(other).key)

    def __eq__(self, other):
        a, b = self._key(other)
        return a == b

    def __ne__(self, other):
        return not self.__eq__(other)

    def __lt__(self, other):
        a, b = self._key(other)
        return a < b

    def __le__(self, other):
        a, b = self._key(other)
        return a <= b

    def __gt__(self, other):
        a, b = self._key(other)
        return a > b

    def __ge__(self, other):
        a, b = self._key(other)
        return a >= b

    __hash__ = str.__hash__


class _Rewrite(ast.NodeTransformer):
    """Version references -> ``_v``, version parsers -> ``_parse``; raises ValueError on what is
    not in the evaluated language."""

    def __init__(self, index, flags: Iterable[str], local: Iterable[str] = ()) -> None:
        self.index = index
        self.flags = set(flags) | set(local)  # (comprehension variables: bound by the expression itself)

    def visit_Name(self, node):
        if node.id in self.flags or node.id in _BUILTINS:
            return node
        q = _qualified(self.index, node)
        if q in VERSIONS:
            return ast.copy_location(ast.Name("_v", ast.Load()), node)
        if q in PARSERS:
            return ast.copy_location(ast.Name("_parse", ast.Load()), node)
        if isinstance(node.ctx, ast.Store):
            return node
        raise ValueError(node.id)

    def visit_Attribute(self, node):
        q = _qualified(self.index, node)
        if q in VERSIONS:
            return ast.copy_location(ast.Name("_v", ast.Load()), node)
        if q in PARSERS:
            return ast.copy_location(ast.Name("_parse", ast.Load()), node)
        if node.attr.startswith("_") or node.attr not in (_METHODS | _VERSION_ATTRS):
            raise ValueError(node.attr)
        self.generic_visit(node)
        return node

    def generic_visit(self, node):
        if not isinstance(node, _ALLOWED) and not isinstance(node, (ast.expr_context, ast.cmpop, ast.boolop)):
            raise ValueError(type(node).__name__)
        return super().generic_visit(node)


def releases(versions: List[str], target: str) -> List[str]:
    """Release strings from ``target`` to one past the newest of ``versions`` ("2.0" ... "2.13")."""
    def key(v):
        return tuple(int(p) for p in v.split(".")[:2])

    chosen = [v for v in versions if key(v) >= key(target)]
    if not chosen:
        return []
    major, minor = key(chosen[-1])
    chosen += [f"{major}.{minor + 1}", f"{major + 1}.0"]  # the next releases: a gate that flips there is not settled
    return [s for v in chosen for s in (f"{v}.0", f"{v}.1+cu121")]


def _compiled(index, node, flags):
    node = _copy(node)
    local = {n.id for c in ast.walk(node) if isinstance(c, ast.comprehension)
             for n in ast.walk(c.target) if isinstance(n, ast.Name)}
    tree = _Rewrite(index, flags, local).visit(ast.Expression(body=node))
    ast.fix_missing_locations(tree)
    return compile(tree, "<version gate>", "eval")


def _copy(node):
    return ast.parse(ast.unparse(node), mode="eval").body if hasattr(ast, "unparse") else node


def settled(index, test: ast.expr, defs: List[ast.Assign], release_strings: List[str]) -> Optional[bool]:
    """True/False when ``test`` has that value on every release string, else None."""
    if not release_strings:
        return None
    try:
        flag_code = []
        known: List[str] = []
        for assign in defs:
            flag_code.append((assign.targets, _compiled(index, assign.value, known)))
            for target in assign.targets:
                elts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
                known += [e.id for e in elts if isinstance(e, ast.Name)]
        code = _compiled(index, test, known)
    except (ValueError, SyntaxError, TypeError):
        return None
    values = set()
    for release in release_strings:
        env: Dict[str, object] = {"_v": _TorchVersion(release), "_parse": _Release}
        try:
            for targets, value_code in flag_code:
                value = eval(value_code, {"__builtins__": _BUILTINS}, env)  # only the checked language of _ALLOWED
                for target in targets:
                    _bind(target, value, env)
            values.add(bool(eval(code, {"__builtins__": _BUILTINS}, env)))  # only the checked language of _ALLOWED
        except Exception:  # the gate's own code fails on this release string: not settled
            return None
        if len(values) > 1:
            return None
    return values.pop()


def _bind(target, value, env) -> None:
    if isinstance(target, ast.Name):
        env[target.id] = value
    elif isinstance(target, (ast.Tuple, ast.List)):
        items = list(value)
        if len(items) != len(target.elts):
            raise ValueError("unpack")
        for t, v in zip(target.elts, items):
            _bind(t, v, env)
    else:
        raise ValueError("target")
