"""The pre-filter decides which files LibCST parses (the cost of a cold `check`): a rule's pattern
keeps out the commonest look-alikes of its trigger words, and never a real use."""
import pytest

from sam3d_codemod.codemods.rules import select_rules

RULES = {r.code: r for r in select_rules(["ALL"])}


@pytest.mark.parametrize("code, text", [
    ("TC022", "class MultiHeadRMSNorm(nn.Module):\n    pass\n"),
    ("TC022", "def f(self, qk_rms_norm=False):\n    self.q_rms_norm = qk_rms_norm\n"),
    ("TC014", "if hasattr(self, 'cache'):\n    pass\n"),
    ("TC014", "x = getattr(cls, \"name\", None)\n"),
])
def test_look_alikes_are_not_parsed(code, text):
    assert not RULES[code].matches_bytes(text.encode(), "m.py")


@pytest.mark.parametrize("code, text", [
    ("TC022", "import torch.nn as nn\nnorm = nn.RMSNorm(8)\n"),
    ("TC022", "from torch.nn import RMSNorm as R\n"),
    ("TC022", "import torch.nn.functional as F\ny = F.rms_norm(x, (8,))\n"),
    ("TC022", "from torch.nn.functional import rms_norm\n"),
    ("TC014", "if hasattr(torch, 'compiler'):\n    pass\n"),
    ("TC014", "import torch._dynamo.config as dc\nif hasattr(dc, 'cache_size_limit'):\n    pass\n"),
])
def test_real_uses_are_parsed(code, text):
    assert RULES[code].matches_bytes(text.encode(), "m.py")
