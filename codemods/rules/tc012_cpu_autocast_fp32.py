"""TC012: ``torch.autocast`` with a dtype CPU autocast may refuse, before torch 2.2.

CPU autocast accepts only bfloat16 before 2.2: torch 2.0 raises ``AutocastCPU only support
Bfloat16`` on entering it with float32 or float16. ``pipeline/utils/pointmap.py`` asks for float32
to force full precision; forks pick the dtype by device (``dtype = torch.float16 if cuda else
torch.float32``, ``dtype=self.amp_dtype``) or pass float16 with ``"cpu"``. ``_torch_compat.autocast``
builds the native context wherever the runtime accepts the dtype; where CPU autocast refuses it, it
uses a disabled autocast (float32 ops: the same result for float32; for float16 it first gives the
warning torch's own ``autocast`` gives when it disables itself for an unsupported CPU dtype).

``torch.cpu.amp.autocast(dtype=...)`` goes to the same helper with ``"cpu"`` first; its
positional arguments (enabled, dtype, cache_enabled) become keywords, since the helper takes
``torch.autocast``'s order. Left native: a visibly bfloat16 dtype, no dtype (CPU defaults to bfloat16), and a
device type that is a literal other than ``"cpu"``.
"""
from __future__ import annotations

from ..base import Rule, RuleTransformer, cst
from ..engine.libcst_command import command_getattr
from ._shared import argument

AUTOCASTS = ("torch.autocast", "torch.amp.autocast")
# torch.autocast("cpu", ...) under another name, without device_type: sent to the helper with "cpu"
# prepended (its positional order, enabled first, differs: those become keywords).
CPU_AUTOCAST = "torch.cpu.amp.autocast"
CPU_AUTOCAST_ORDER = ("enabled", "dtype", "cache_enabled")  # its positional parameters
BFLOAT16 = ("torch.bfloat16",)


def _literal(node):
    if isinstance(node, cst.SimpleString) and node.prefix.lower() in ("", "r", "u"):
        return node.evaluated_value
    return None


class Transformer(RuleTransformer):
    def leave_Call(self, original, updated):
        resolved = self.ctx.index.resolve(original.func)
        if resolved == CPU_AUTOCAST:
            return self._cpu_autocast(original, updated)
        if resolved not in AUTOCASTS:
            return updated
        if any(a.star for a in original.args):
            return updated  # **kwargs: what it passes cannot be read
        dtype = argument(original, 1, "dtype")
        if dtype is None or self.ctx.index.resolve(dtype) in BFLOAT16:
            return updated
        device = argument(original, 0, "device_type")
        literal = _literal(device) if device is not None else None
        if literal is not None and literal != "cpu":
            return updated  # a CUDA (or other) autocast: every dtype it takes works on 2.0
        shown = cst.Module(body=[]).code_for_node(dtype)
        if not self.report(original, "patched", f"autocast dtype `{shown}` (CPU may refuse it) -> _torch_compat.autocast"):
            return updated
        return updated.with_changes(func=self.ctx.compat_attr("autocast"))


    def _cpu_autocast(self, original, updated):
        if any(a.star for a in original.args):
            return updated  # **kwargs: what it passes cannot be read
        positional = [a for a in original.args if a.keyword is None]
        if len(positional) > len(CPU_AUTOCAST_ORDER):
            return updated  # more than it takes: a TypeError on every torch, not ours to rewrite
        dtype = argument(original, 1, "dtype")  # (enabled, dtype, cache_enabled)
        if dtype is None or self.ctx.index.resolve(dtype) in BFLOAT16:
            return updated  # bfloat16, the default: every torch takes it
        shown = cst.Module(body=[]).code_for_node(dtype)
        if not self.report(original, "patched", f"torch.cpu.amp.autocast dtype `{shown}` -> _torch_compat.autocast(\"cpu\", ...)"):
            return updated
        # The helper takes torch.autocast's order (device_type, dtype, enabled, ...): positional
        # arguments of this spelling become keywords, in the order written.
        args = [a.with_changes(keyword=cst.Name(CPU_AUTOCAST_ORDER[i]), equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
                if i < len(positional) else a for i, a in enumerate(updated.args)]
        cpu = cst.Arg(cst.SimpleString('"cpu"'))
        return updated.with_changes(func=self.ctx.compat_attr("autocast"), args=[cpu] + args)


RULE = Rule(
    code="TC012",
    name="cpu-autocast-fp32",
    summary="Route torch.autocast with a dtype CPU autocast refuses (float32, float16, chosen at run time) "
            "through _torch_compat.autocast (CPU before 2.2)",
    fixes="RuntimeError: AutocastCPU only support Bfloat16",
    fixed_in="2.2",
    triggers=("autocast",),
    pattern=r"autocast\s*\(",
    transformer=Transformer,
    needs_compat=True,
    helpers=("autocast",),
    shapes=(
        "torch.autocast(device_type=..., dtype=torch.float32) / torch.float / torch.amp.autocast / from-imported autocast",
        'torch.autocast("cpu", dtype=torch.float16) / torch.half, dtype positional or by keyword',
        'torch.cpu.amp.autocast(dtype=torch.float16, ...) -> _torch_compat.autocast("cpu", ...); positional '
        '(enabled, dtype, cache_enabled) become keywords',
        "torch.autocast(device.type, dtype=amp_dtype)  (a dtype chosen at run time: name, attribute, conditional)",
        'left alone: dtype=torch.bfloat16, no dtype, a literal non-CPU device ("cuda"), **kwargs',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
