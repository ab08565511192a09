"""TC008: make kaolin an optional import.

FlexiCubes imports ``kaolin.utils.testing.check_tensor`` only for input checks, but kaolin's native
part often fails to load (``RuntimeError: Error loading warp.so``). The import is wrapped; the
fallback ``check_tensor`` in ``_torch_compat`` behaves like kaolin's (returns a bool, raises on
mismatch with ``throw=True``); other kaolin names become ``missing`` placeholders.
"""
from __future__ import annotations

from ._shared import OptionalImport
from ..base import Rule
from ..engine.libcst_command import command_getattr


class Transformer(OptionalImport):
    PACKAGES = ("kaolin",)
    PIP_NAME = "kaolin"
    FALLBACKS = {"kaolin.utils.testing.check_tensor": "check_tensor"}


RULE = Rule(
    code="TC008",
    name="optional-kaolin",
    summary="Guard kaolin imports; fall back to a kaolin-compatible check_tensor",
    fixes="ModuleNotFoundError: No module named 'kaolin' / RuntimeError: Error loading warp.so",
    fixed_in=None,
    triggers=("kaolin",),
    pattern=r"(?m)^\s*(import|from)\s+kaolin\b",
    transformer=Transformer,
    needs_compat=True,
    helpers=("missing",) + tuple(sorted(set(Transformer.FALLBACKS.values()))),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
