"""TC012: ``torch.autocast(..., dtype=torch.float32)`` on CPU before torch 2.2.

CPU autocast accepts only bfloat16 before 2.2 (``AutocastCPU only support Bfloat16``), and
``pipeline/utils/pointmap.py`` asks for float32 to force full precision. ``_torch_compat.autocast``
builds the native context and, where the runtime refuses float32 on CPU, uses a disabled autocast,
which computes in float32: the same result.
"""
from __future__ import annotations

from ..base import Rule, RuleTransformer
from ..engine.libcst_command import command_getattr

# torch.cpu.amp.autocast has no device_type argument, so it cannot take _torch_compat.autocast's place.
AUTOCASTS = ("torch.autocast", "torch.amp.autocast")
FLOAT32 = ("torch.float32", "torch.float")


class Transformer(RuleTransformer):
    def leave_Call(self, original, updated):
        if self.ctx.index.resolve(original.func) not in AUTOCASTS:
            return updated
        dtype = next((a.value for a in original.args if a.keyword is not None and a.keyword.value == "dtype"), None)
        if dtype is None or self.ctx.index.resolve(dtype) not in FLOAT32:
            return updated
        if not self.report(original, "patched", "float32 autocast -> _torch_compat.autocast"):
            return updated
        return updated.with_changes(func=self.ctx.compat_attr("autocast"))


RULE = Rule(
    code="TC012",
    name="cpu-autocast-fp32",
    summary="Route float32 torch.autocast through _torch_compat.autocast (CPU before 2.2)",
    fixes="RuntimeError: AutocastCPU only support Bfloat16",
    fixed_in="2.2",
    triggers=("autocast",),
    pattern=r"dtype\s*=\s*[\w.]*\bfloat(32)?\b",
    transformer=Transformer,
    needs_compat=True,
    helpers=("autocast",),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
