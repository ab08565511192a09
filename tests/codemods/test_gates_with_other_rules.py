"""Gate rules (TC014, TC015) in a run with the rules that route what they guard: a gate around
names that TC003/TC022 rebind to ``_torch_compat`` by rewriting their import is decided in the
first pass, and the second pass changes nothing (the import index, built before the rewrite, still
maps those names to the torch API; ``FileContext.rebound`` says they moved)."""
import libcst as cst
import pytest

from sam3d_codemod.codemods.engine import transform as engine
from sam3d_codemod.codemods.rules import select_rules

RULES = [r for r in select_rules(["ALL"]) if r.kind == "python"]
PATH = "pkg/mod.py"
COMPAT = "from . import _torch_compat"

CASES = {
    "from-import at the top, names in an if/else gate": (
        "import torch\nfrom torch.nn.attention import sdpa_kernel, SDPBackend\n\n\ndef f():\n"
        "    if torch.__version__ >= '2.3':\n        return sdpa_kernel(SDPBackend.MATH)\n    return None\n",
        "def f():\n    return sdpa_kernel(SDPBackend.MATH)\n"),
    "from-import inside the gated branch": (
        "import torch\n\nif torch.__version__ >= '2.3':\n    from torch.nn.attention import sdpa_kernel as kern\n"
        "else:\n    kern = None\n",
        "\nfrom ._torch_compat import sdpa_kernel as kern\n"),
    "fall-through gate, the rest imports and calls by name": (
        "import torch\n\n\ndef g(q):\n    if torch.__version__ < '2.4':\n        raise RuntimeError('old')\n"
        "    from torch.nn import RMSNorm\n    return RMSNorm(q)\n",
        "def g(q):\n    from ._torch_compat import RMSNorm\n    return RMSNorm(q)\n"),
    "two fall-through gates of two rules in one block": (
        "import torch\nimport torch._dynamo\n\n\ndef h():\n    if not hasattr(torch, '_dynamo'):\n"
        "        raise ImportError('dynamo')\n    if torch.__version__ < '2.4':\n        raise RuntimeError('old')\n"
        "    return torch.nn.RMSNorm(8)\n",
        "def h():\n    return _torch_compat.RMSNorm(8)\n"),
    "a guard dropped from a try whose handler is widened": (
        "import torch\nimport torch._dynamo\n\ntry:\n    if not hasattr(torch, '_dynamo'):\n"
        "        raise ImportError('dynamo')\n    import kaolin\nexcept ImportError:\n    kaolin = None\n",
        "try:\n    import kaolin\nexcept (ImportError, RuntimeError, OSError):\n"),
}


def _run(text):
    rules = [r for r in RULES if r.matches_text(text, "mod.py")]
    statements = engine.transform_source(text, rules, PATH, COMPAT)
    whole = engine.transform_module(cst.parse_module(text), text, rules, PATH, COMPAT)
    assert statements.code == whole.code  # both paths see the same siblings and bindings
    return statements


@pytest.mark.parametrize("name", CASES)
def test_a_gate_around_rebound_names_is_decided_in_one_pass(name):
    text, expected = CASES[name]
    first = _run(text)
    assert first.code is not None and expected in first.code, first.code
    assert "__version__" not in first.code and "hasattr" not in first.code, first.code
    assert not [s for s in first.sites if s.status == "unhandled"], first.sites
    again = _run(first.code)
    assert again.code is None and not [s for s in again.sites if s.status in ("patched", "unhandled")], again.sites


def test_a_suppressed_import_keeps_its_gate():
    """The import stays torch's (a suppression comment): its names still need the gate."""
    text = ("import torch\nfrom torch.nn.attention import sdpa_kernel  # sam3d-codemod: ignore[TC003]\n\n\ndef f():\n"
            "    if torch.__version__ >= '2.3':\n        return sdpa_kernel([])\n    return None\n")
    first = _run(text)
    assert "__version__ >= '2.3'" in (first.code or text)
    assert [s.code for s in first.sites if s.status == "unhandled"] == ["TC015"]
    again = _run(first.code or text)
    assert again.code is None
