"""Each rule as a LibCST codemod command, for ``python -m libcst.tool codemod``.

    python -m libcst.tool codemod --no-format -x sam3d_codemod.codemods.rules.tc003_nn_attention.Command PATH

runs the same rewrite of each ``.py`` file as ``sam3d-codemod apply --select TC003 PATH`` (the same
engine, the same pre-filter, the same ``_torch_compat`` import), but does not write the helper
module ``_torch_compat.py`` itself (TC000: run ``sam3d-codemod apply`` once for it). Without
``--no-format`` (or a ``.libcst.codemod.yaml`` with ``formatter: []``), libcst.tool passes every
file through black afterwards, which is not part of the rewrite.

A rule module exposes its command with one line at its end
(``__getattr__ = command_getattr(RULE, __name__)``):
the class is built on first access, so importing a rule module still does not import libcst.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

from ..base import Rule, parse_version

ATTRIBUTE = "Command"


_BUILT: Dict[str, type] = {}


def command_getattr(rule: Rule, module: str):
    """A rule module's ``__getattr__`` (PEP 562): serves ``Command``, built on first use."""

    def module_getattr(name: str) -> type:
        if name != ATTRIBUTE:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if rule.code not in _BUILT:
            _BUILT[rule.code] = command_class(rule, module)
        return _BUILT[rule.code]

    return module_getattr


def command_class(rule: Rule, module: str) -> type:
    """A ``libcst.codemod.CodemodCommand`` subclass that applies ``rule`` alone."""
    from .libcst_loader import load

    cst = load()
    from libcst.codemod import CodemodCommand, SkipFile

    description = (f"{rule.code} ({rule.name}): {rule.summary}. Fixes `{rule.fixes}`. "
                   f"The same rewrite as `sam3d-codemod apply --select {rule.code}`.")
    if rule.kind != "python":
        description += " This rule edits config files, not Python: on .py files it changes nothing."

    class Command(CodemodCommand):
        DESCRIPTION = description
        RULE = rule

        @staticmethod
        def add_args(arg_parser) -> None:
            arg_parser.add_argument("--target-torch", default="2.0",
                                    help="Oldest torch to support; a rule fixed at or before it is off. [default: 2.0]")
            arg_parser.add_argument("--root", default=None,
                                    help="The tree's root, as `sam3d-codemod apply ROOT` would get it: where the "
                                         "search for the package that hosts _torch_compat stops. [default: cwd]")

        def __init__(self, context, target_torch: str = "2.0", root: Optional[str] = None) -> None:
            super().__init__(context)
            self.target = target_torch
            self.root = root

        def transform_module_impl(self, tree):
            filename = self.context.filename
            if rule.kind != "python" or not rule.enabled_for(parse_version(self.target)):
                return tree
            text = tree.code
            name = os.path.basename(filename) if filename else None
            if not rule.matches_text(text.replace("\r", "\n"), name):  # the runner's pre-filter
                return tree
            from .transform import LossyInput, transform_source

            compat = _compat_import(filename, self.root) if filename else None
            try:
                result = transform_source(text, [rule], filename or "<stdin>", compat, self.target)
            except LossyInput as exc:
                raise SkipFile(str(exc)) from None
            for site in result.sites:
                if site.status != "patched":
                    self.warn(f"line {site.line}: {site.code} {site.status}: {site.message}")
            if result.code is None:
                return tree
            return cst.parse_module(result.code, config=tree.config_for_parsing)

    Command.__name__ = Command.__qualname__ = ATTRIBUTE
    Command.__module__ = module
    return Command


def _compat_import(filename: str, root: Optional[str]) -> Optional[str]:
    """How ``apply`` would import ``_torch_compat`` into this file (None: no package hosts it)."""
    from .hosts import HostFinder  # the runner's own host search, so both agree

    path = Path(os.path.abspath(filename))
    base = Path(os.path.abspath(root)) if root else Path.cwd()
    if base != path.parent and base not in path.parents:
        base = path.parent
    return HostFinder(base).import_statement(path)
