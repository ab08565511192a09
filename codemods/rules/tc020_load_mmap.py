"""TC020: ``torch.load(..., mmap=...)`` via ``_torch_compat.load``.

``mmap=`` is new in torch 2.1; torch 2.0 passes unknown keywords on to the Unpickler, which raises.
``_torch_compat.load`` is native ``torch.load`` where it takes ``mmap`` and otherwise loads the file
into memory (the same objects; mapping only saves resident memory). Only calls that pass ``mmap``
are rewritten; every other ``torch.load`` stays native.
"""
from __future__ import annotations

from ..base import Rule, RuleTransformer
from ..engine.libcst_command import command_getattr

LOAD = "torch.load"


class Transformer(RuleTransformer):
    def leave_Call(self, original, updated):
        if not any(a.keyword is not None and a.keyword.value == "mmap" for a in original.args):
            return updated
        if self.ctx.index.resolve(original.func) != LOAD:
            return updated
        if not self.report(original, "patched", "torch.load(mmap=) -> _torch_compat.load"):
            return updated
        return updated.with_changes(func=self.ctx.compat_attr("load"))


RULE = Rule(
    code="TC020",
    name="load-mmap",
    summary="Route torch.load(..., mmap=) through _torch_compat.load (mmap dropped where unsupported)",
    fixes="TypeError: 'mmap' is an invalid keyword argument for Unpickler()",
    fixed_in="2.1",
    triggers=("mmap",),
    pattern=r"\bmmap\s*=",
    transformer=Transformer,
    needs_compat=True,
    helpers=("load",),
    # the keyword is the newer API (the table's spelling): TC015 decides gates around it
    routes=(("torch.load(mmap=)", "load"),),
    shapes=(
        "torch.load(f, mmap=...) through any alias of torch / from torch import load",
        "left alone: torch.load without mmap=",
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
