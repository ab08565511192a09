"""TC013: a device name bound only when CUDA is available.

Upstream ``set_attention_backend()`` runs at import of ``pipeline/inference_pipeline.py``::

    if torch.cuda.is_available():
        gpu_name = torch.cuda.get_device_name(0)
    logger.info(f"GPU name is {gpu_name}")

and raises UnboundLocalError on a machine without CUDA. The rule adds ``else: gpu_name = "CPU"``,
the same fix the PyPI copy carries.
"""
from __future__ import annotations

from ..base import Rule, RuleTransformer, cst
from ..engine.libcst_command import command_getattr

IS_AVAILABLE = "torch.cuda.is_available"
GET_NAME = "torch.cuda.get_device_name"


class Transformer(RuleTransformer):
    def leave_If(self, original, updated):
        if updated.orelse is not None or not isinstance(original.test, cst.Call):
            return updated
        if self.ctx.index.resolve(original.test.func) != IS_AVAILABLE:
            return updated
        body = updated.body.body
        if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
            return updated
        assign = body[0].body[0]
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name)):
            return updated
        if not (isinstance(assign.value, cst.Call) and self.ctx.index.resolve(assign.value.func) == GET_NAME):
            return updated
        name = assign.targets[0].target.value
        if not self.report(original, "patched", f"`{name}` bound on machines without CUDA"):
            return updated
        orelse = cst.Else(body=cst.IndentedBlock(body=[cst.parse_statement(f'{name} = "CPU"\n')]))
        return updated.with_changes(orelse=orelse)


RULE = Rule(
    code="TC013",
    name="cuda-only-binding",
    summary='Bind a CUDA device-name variable to "CPU" when CUDA is unavailable',
    fixes="UnboundLocalError: cannot access local variable 'gpu_name' where it is not associated with a value",
    fixed_in=None,
    triggers=("get_device_name",),
    transformer=Transformer,
    shapes=(
        'if torch.cuda.is_available(): name = ... with no else, the name read after the if',
        'left alone: an if that already has an else',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
