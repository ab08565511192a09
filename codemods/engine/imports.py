"""Where the imports a rewrite needs go (after ``import torch``), on LibCST's statements (whole-module
path) and on ``ast``'s (statement path): one anchoring rule for both."""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING, List, Optional, Sequence, Union

from ..base import dotted_name
from .libcst_loader import load as _load_libcst
from .results import WholeModule

if TYPE_CHECKING:  # mypy sees the module that load() returns
    import libcst as cst
else:
    cst = _load_libcst()  # before any other libcst import: it compiles libcst's dataclasses once per machine


def dotted(name: str) -> Union[cst.Name, cst.Attribute]:
    parts = name.split(".")
    node: Union[cst.Name, cst.Attribute] = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


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


def add_imports(module: cst.Module, original: cst.Module, modules: List[str], compat_stmt: Optional[str]) -> cst.Module:
    new_lines: List[cst.BaseStatement] = [cst.SimpleStatementLine([cst.Import([cst.ImportAlias(dotted(m))])]) for m in modules]
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


def insertion_group(groups) -> int:
    """``_insertion_index`` over ast statement groups."""
    first = groups[0][0] if groups else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.JoinedStr):
        raise WholeModule  # LibCST's ConcatenatedString vs FormattedString: not told apart here
    return _anchor(groups, _is_torch_group, _is_import_group, _is_ast_docstring)


def _is_ast_docstring(group) -> bool:
    first = group[0]
    return (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, (str, bytes)))
