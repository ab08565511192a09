"""The TC100 scan walks only statements whose text can hold a hit, and skips parsing files that
cannot hold one; it must find exactly what walking every node finds."""
import ast
import sys
from pathlib import Path

import pytest

from sam3d_codemod.codemods.apiscan import scan as api_scan

REPO = Path(__file__).resolve().parents[2]


def _every_node(text, tree, names):
    """The reference: every node of the tree, imports in ``ast.walk``'s breadth-first order."""
    imports, interesting, guarded = [], [], set()
    for order, node in enumerate(ast.walk(tree)):
        kind = type(node)
        if kind in (ast.Import, ast.ImportFrom):
            imports.append((0, order, 0, node))
        elif kind in (ast.Attribute, ast.Call, ast.Assign):
            interesting.append(node)
        elif kind is ast.If:
            test = node.test
            if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "hasattr":
                guarded.update(id(s) for s in node.body)
    return imports, interesting, guarded


def _reference_scan(monkeypatch, text):
    with monkeypatch.context() as m:
        m.setattr(api_scan, "_candidates", _every_node)
        m.setattr(api_scan, "_might_hit", lambda text, names: True)
        return api_scan.scan(text, "mod.py")


CASES = {
    "attribute chain": "import torch\nwith torch.nn.attention.sdpa_kernel(b):\n    pass\n",
    "alias": "import torch.nn.attention as A\nx = A.SDPBackend.FLASH_ATTENTION\n",
    "from import": "from torch.nn.attention import sdpa_kernel, SDPBackend\n",
    "parenthesised import": "import os\nfrom torch.nn.attention import (\n    sdpa_kernel,\n)\n",
    "continued import": "from torch.nn.attention import \\\n    sdpa_kernel\n",
    "continued, then parenthesised": "import os\nfrom torch.nn.attention import \\\n    (os_name,\n     sdpa_kernel)\n",
    "parenthesised, name far down": "import os\nfrom torch.nn.attention import (\n" + "    a,\n" * 200 + "    sdpa_kernel)\n",
    "nested import, later use": "def f():\n    import torch\n    return torch.compiler.is_compiling()\n",
    "attribute across lines": "import torch\nx = (torch.compiler\n     .is_compiling())\n",
    "comment inside a chain": "import torch\nx = (torch.compiler.  # why\n     is_compiling())\n",
    "keyword": "import torch\ntorch.load(f, weights_only=True, mmap=True)\n",
    "decorator": "import torch\n@torch.compiler.disable\ndef f():\n    pass\n",
    "except clause": "import torch\ntry:\n    pass\nexcept torch.compiler.SomeError:\n    pass\n",
    "config write": "import torch._dynamo\ntorch._dynamo.config.accumulated_cache_size_limit = 8\n",
    "guarded config write": "import torch._dynamo\nif hasattr(torch._dynamo.config, 'x'):\n"
    "    torch._dynamo.config.accumulated_cache_size_limit = 8\n",
    "rebound alias": "import numpy as np\ndef f():\n    import torch as np\n    return np.compiler.is_compiling()\n",
    "suppressed": "import torch\nx = torch.compiler.is_compiling()  # sam3d-codemod: ignore[TC100]\n",
    "no hit": "import torch\nx = torch.zeros(3).type(torch.float32)\n",
    "match": "import torch\nmatch x:\n    case torch.compiler.Y:\n        import torch.nn.attention\n",
}


@pytest.mark.parametrize("name", CASES)
def test_same_as_walking_every_node(monkeypatch, name):
    text = CASES[name]
    assert api_scan.scan(text, "mod.py") == _reference_scan(monkeypatch, text)


def test_cases_find_what_they_should(monkeypatch):
    found = {name: api_scan.scan(text, "mod.py") for name, text in CASES.items()}
    assert not found["no hit"] and not found["suppressed"] and not found["guarded config write"]
    for name in ("attribute chain", "alias", "from import", "parenthesised import", "continued import",
                 "continued, then parenthesised", "parenthesised, name far down",
                 "nested import, later use", "attribute across lines", "comment inside a chain",
                 "keyword", "decorator", "config write", "match"):
        if name == "match" and sys.version_info < (3, 10):
            continue  # Python 3.9 cannot parse a match statement (the runner reports such a file)
        assert found[name], name


def test_an_import_statement_ends_where_python_ends_it():
    text = "from torch import (\n  a,\n  b)\nx = 1\nimport torch.nn \\\n  as nn\ny = 2\nfrom os import (\n  c,\n"
    first = text.index("from torch")
    assert text[first:api_scan._import_end(text, first, text.index("\n"))] == "from torch import (\n  a,\n  b)"
    second = text.index("import torch.nn")
    end = api_scan._import_end(text, second, text.index("\n", second))
    assert text[second:end] == "import torch.nn \\\n  as nn"
    third = text.index("from os")
    assert api_scan._import_end(text, third, text.index("\n", third)) == len(text)  # never closed: to the end


def _tree_files():
    files = sorted(p for p in (REPO / "fixtures").rglob("*.py"))
    return files


@pytest.mark.parametrize("path", _tree_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_fixture_files(monkeypatch, path):
    text = path.read_text()
    assert api_scan.scan(text, "mod.py") == _reference_scan(monkeypatch, text)


@pytest.mark.realtree
def test_real_tree(monkeypatch):
    from tests.realtree import pristine_tree

    hits = 0
    for path in sorted(pristine_tree().rglob("*.py")):
        text = path.read_text()
        found = api_scan.scan(text, "mod.py")
        assert found == _reference_scan(monkeypatch, text), path
        hits += len(found)
    assert hits > 0  # the unpatched tree uses newer APIs: the comparison saw real findings


@pytest.mark.runtime
def test_torch_sources_sample(monkeypatch):
    """The installed torch's own sources (every 10th file): the scan equals the reference; a torch
    newer than the target uses newer APIs everywhere."""
    import torch

    torch_dir = Path(torch.__file__).parent
    hits = 0
    for path in sorted(torch_dir.rglob("*.py"))[::10]:
        text = path.read_text(errors="replace")
        found = api_scan.scan(text, "mod.py")
        assert found == _reference_scan(monkeypatch, text), path
        hits += len(found)
    if hasattr(torch.nn, "RMSNorm"):  # a release well past the target (2.4+)
        assert hits > 100
