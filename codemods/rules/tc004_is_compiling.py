"""TC004: ``torch.compiler.is_compiling()`` on torches that lack it.

``torch.compiler`` arrives in 2.1 and ``is_compiling`` in it in 2.3. ``_torch_compat.is_compiling``
uses the native function where present, else ``torch._dynamo.is_compiling`` (2.0), else False.
"""
from __future__ import annotations

from ..base import Rule
from ..engine.libcst_command import command_getattr
from ._shared import Redirect


class Transformer(Redirect):
    MODULE = "torch.compiler"
    NAMES = ("is_compiling",)


RULE = Rule(
    code="TC004",
    name="is-compiling",
    summary="Route torch.compiler.is_compiling through _torch_compat",
    fixes="AttributeError: module 'torch' has no attribute 'compiler'",
    fixed_in="2.3",
    triggers=("compiler",),
    pattern=r"\bcompiler\b",
    transformer=Transformer,
    needs_compat=True,
    routes=(("torch.compiler.is_compiling", "is_compiling"),),
    helpers=("is_compiling",),
    shapes=(
        'torch.compiler.is_compiling() as an attribute',
        'from torch.compiler import is_compiling',
        'left alone: torch._dynamo.is_compiling (exists in 2.0)',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
