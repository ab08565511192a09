"""The whole-module path: every statement through LibCST, for layouts the statement path cannot
splice exactly (``engine.transform_source`` decides; tests compare the two paths)."""
from __future__ import annotations

import ast
from typing import Optional, Sequence, Union

from ..base import FileContext, Rule
from ..rules import routes
from .imports import add_imports
from .lossy import check_round_trip
from .positions import SnippetLines
from .prefilter import build_index, def_hotness, hot_matcher
from .results import Rewritten, TransformResult, ast_parse, unhosted
from .suppressions import run_suppressed
from .traversal import MultiRuleTransformer, cst, handler_maps


def transform(
    module: cst.Module,
    text: str,
    rules: Sequence[Rule],
    path: str,
    compat_import: Optional[str],
    target: str,
    tree: Optional[ast.Module] = None,
) -> Union[TransformResult, Rewritten]:
    if tree is None:
        tree = ast_parse(text)
    index = build_index(text, tree)
    ctx = FileContext(path=path, compat_import=compat_import, index=index, target=target, routes=routes())
    ctx.positions = SnippetLines(text, module)
    return run_suppressed(text, ctx, lambda: _transform(module, text, rules, ctx, tree))


def _transform(module, text, rules, ctx: FileContext, tree) -> Union[TransformResult, Rewritten]:
    index, compat_import = ctx.index, ctx.compat_import
    handlers = [rule.transformer(ctx) for rule in rules if rule.transformer is not None]
    defs = def_hotness(text, tree, hot_matcher(rules, index))
    new_module = module.visit(MultiRuleTransformer(*handler_maps(handlers), defs))
    if ctx.needs_compat and compat_import is None:
        # No package to host the helpers: keep the file as it was and say why.
        return TransformResult(None, unhosted(ctx.sites), tree=tree)
    compat = compat_import if ctx.needs_compat and not index.has_compat_import else None
    new_module = add_imports(new_module, module, ctx.needed_modules, compat)
    if new_module is module or not any(s.status == "patched" for s in ctx.sites) and not ctx.needed_modules:
        return TransformResult(None, ctx.sites, ctx.needs_compat, tree)
    code = new_module.code
    if code == text:
        return TransformResult(None, ctx.sites, ctx.needs_compat, tree)
    check_round_trip(text, module)
    return Rewritten(code, ctx, index)
