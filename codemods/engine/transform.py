"""Apply a set of rules to one module's source: parse once, one traversal, insert imports, re-parse.

This is the library entry point (``transform_source``); the CLI runner adds discovery, files and reports.
The work is split by concern: ``statements`` (the statement path: hot statements parsed and spliced
back), ``whole_module`` (every statement through LibCST), ``prefilter`` (imports and hot defs from
Python's parser), ``traversal``, ``positions`` (line numbers), ``imports`` (where new imports go),
``suppressions`` and ``lossy`` (inputs LibCST may not print back byte for byte).
"""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Optional, Sequence, Union

from .libcst_loader import load as _load_libcst

if TYPE_CHECKING:  # mypy sees the module that load() returns
    import libcst as cst
else:
    cst = _load_libcst()  # before any other libcst import: it compiles libcst's dataclasses once per machine

# Below load(), on purpose: these modules import libcst.
from ..base import Rule, parse_quietly
from . import statements, whole_module
from .lossy import LossyInput as LossyInput  # part of this API: transform_source raises it
from .results import CannotParse, Reuse, Rewritten, RuleBug, TransformResult, WholeModule, ast_parse


def transform_source(
    text: str,
    rules: Sequence[Rule],
    path: str = "<string>",
    compat_import: Optional[str] = "from . import _torch_compat",
    target: str = "2.0",
    _depth: int = 0,
    tree: Optional[ast.Module] = None,
    reuse: Optional[Reuse] = None,
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
        tree = ast_parse(text)
    if tree is not None:
        try:
            out = statements.transform(text, tree, rules, path, compat_import, target, reuse)
        except WholeModule:
            pass
        else:
            return _finish(out, rules, path, compat_import, target, _depth)
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        raise
    except Exception as exc:  # the native parser raises a few other errors on odd input
        raise CannotParse(f"cannot parse: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return transform_module(module, text, rules, path, compat_import, target, _depth, tree)


def transform_module(
    module: cst.Module,
    text: str,
    rules: Sequence[Rule],
    path: str = "<string>",
    compat_import: Optional[str] = "from . import _torch_compat",
    target: str = "2.0",
    _depth: int = 0,
    tree: Optional[ast.Module] = None,
) -> TransformResult:
    """The whole-module path: every statement through LibCST. ``transform_source`` takes it only
    where parsing statement by statement cannot be exact; tests compare the two."""
    out = whole_module.transform(module, text, rules, path, compat_import, target, tree)
    return _finish(out, rules, path, compat_import, target, _depth)


def _finish(out: Union[TransformResult, Rewritten], rules, path, compat_import, target, depth) -> TransformResult:
    """A path's rewrite, checked: re-run where a new import binds a root (``import torch._dynamo``
    where nothing bound ``torch``), then the output must parse."""
    if isinstance(out, TransformResult):
        return out
    code, ctx, index = out.code, out.ctx, out.index
    result = None
    new_roots = {m.split(".")[0] for m in ctx.needed_modules} - set(index.aliases)
    if new_roots and depth < 2:
        # `import torch._dynamo` binds `torch` where nothing did: uses of it resolve only now.
        again = transform_source(code, rules, path, compat_import, target, _depth=depth + 1)
        if again.code is not None:
            result = TransformResult(again.code, ctx.sites + again.sites, ctx.needs_compat or again.needs_compat,
                                     again.tree, again.reuse, again.suppressed)
    if result is None:
        try:
            tree = parse_quietly(code)  # C-speed check that the output is valid Python
        except (SyntaxError, ValueError) as exc:
            raise RuleBug(f"rules {sorted({s.code for s in ctx.sites})} produced unparsable code: {exc}") from None
        result = TransformResult(code, ctx.sites, ctx.needs_compat, tree)
    if result.reuse is None:  # (a re-run for a newly bound root brings its own)
        result.reuse = out.reuse
    result.suppressed = out.suppressed | result.suppressed  # rewrites keep comments: ordinals carry over
    return result
