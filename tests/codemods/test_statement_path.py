"""``transform_source`` parses only the statements some rule's pre-filter matches; it must give
exactly what parsing the whole module gives (``transform_module``): code, sites, compat need.

The long differential run is the fuzz (``path-mismatch``); these are the fixtures, the sample
tree, the real tree and the layouts the statement path treats specially.
"""
import ast
from pathlib import Path

import libcst as cst
import pytest

from sam3d_codemod.codemods.engine import transform as engine
from sam3d_codemod.codemods.engine import traversal
from sam3d_codemod.codemods.rules import select_rules

REPO = Path(__file__).resolve().parents[2]
RULES = [r for r in select_rules(["ALL"]) if r.kind == "python"]


def _both(text: str, path: str = "pkg/mod.py"):
    rules = [r for r in RULES if r.matches_text(text, Path(path).name)]
    whole = engine.transform_module(cst.parse_module(text), text, rules, path)
    statements = engine.transform_source(text, rules, path)
    return whole, statements


def _same(text: str, path: str = "pkg/mod.py"):
    whole, statements = _both(text, path)
    assert statements.code == whole.code
    assert [(s.code, s.line, s.status, s.message) for s in statements.sites] == \
        [(s.code, s.line, s.status, s.message) for s in whole.sites]
    assert statements.needs_compat == whole.needs_compat
    return statements


def _python_files(root: Path):
    return sorted(p for p in root.rglob("*.py") if not p.name.endswith(".out.py"))


@pytest.mark.parametrize("path", _python_files(REPO / "fixtures"), ids=lambda p: str(p.relative_to(REPO / "fixtures")))
def test_fixtures_and_sample_tree(path):
    _same(path.read_text(), str(path))


@pytest.mark.realtree
def test_real_tree():
    from tests.realtree import pristine_tree

    changed = 0
    for path in _python_files(pristine_tree()):
        changed += _same(path.read_text(), str(path)).code is not None
    assert changed >= 15  # the real tree has ~18 files to patch: the comparison saw real work


BIG_COLD = "".join(f"    def cold_{i}(self, x):\n        return x + {i}\n\n" for i in range(40))

LAYOUTS = {
    "hot method in a big class": "import torch\n\nclass M:\n" + BIG_COLD
    + "    def hot(self, a, b):\n        return torch.utils._pytree.tree_map(f, a, b)\n",
    "trigger in the class header": "import torch\n\n@torch.compile\nclass M:\n" + BIG_COLD,
    "trigger in a decorator": "import torch\n\nclass M:\n" + BIG_COLD
    + "    @torch.compile\n    def hot(self):\n        pass\n",
    "tabs": "import torch\n\nclass M:\n" + BIG_COLD.replace("    ", "\t")
    + "\tdef hot(self):\n\t\ttorch._dynamo.config.accumulated_cache_size_limit = 8\n",
    "first block two spaces, hot method four": "import torch\nif x:\n  y = 1\n\nclass M:\n" + BIG_COLD
    + "    def hot(self):\n        torch._dynamo.config.accumulated_cache_size_limit = 8\n",
    "method indented by the default plus more": "import torch\nif x:\n    y = 1\n\nclass M:\n"
    + BIG_COLD.replace("    ", "      ")
    + "      def hot(self):\n          torch._dynamo.config.accumulated_cache_size_limit = 8\n",
    "irregular indent": "import torch\nif x:\n    y = 1\n\nclass M:\n" + BIG_COLD.replace("    ", "  ")
    + "  def hot(self):\n    torch._dynamo.config.accumulated_cache_size_limit = 8\n",
    "statements sharing a line": "import torch\nx = 1; y = torch.compile(f); z = 2\n",
    "backslash continuation": "import torch\ny = torch.compile(f) \\\n    if a else None\nz = 1\n",
    "one-line def": "import torch\n" + "def f(): return torch.compile(g)\n" * 2,
    "comment at odd indent in a hot def": "import torch\nclass M:\n" + BIG_COLD
    + "    def hot(self):\n# col 0\n        y = torch.compile(f)\n      # odd\n        return y\n",
    "insert after a compound statement": "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n    # tail\n"
    "import torch\ntorch._dynamo.config.cache_size_limit = 8\n",
    "torch import first in a one-liner": "import os; import torch\nx = torch._dynamo.config.verbose\n",
    "docstring, torch imported late": '"""Doc."""\nimport os\nx = 1\nimport torch.nn\ny = torch._dynamo.config.verbose\n',
    "f-string docstring": 'f"""Doc."""\nimport os\nimport torch.nn\nx = torch._dynamo.is_compiling()\n',
    "no newline at the end": "import torch\nx = torch._dynamo.config.verbose",
    "crlf": "import torch\r\nclass M:\r\n" + BIG_COLD.replace("\n", "\r\n")
    + "    def hot(self):\r\n        torch._dynamo.config.accumulated_cache_size_limit = 8\r\n",
    "compat import above the torch import": "import os\ntry:\n    import kaolin\nexcept ImportError:\n    pass\n"
    "from torch.nn.attention import sdpa_kernel\nimport torch\n",
    "nested classes": "import torch\nclass A:\n    class B:\n" + BIG_COLD.replace("    ", "        ")
    + "        def hot(self):\n            return torch.compiler.is_compiling()\n",
    "async def": "import torch\nclass M:\n" + BIG_COLD
    + "    async def hot(self):\n        return torch.compile(f)\n",
    "optional import in a def": "import torch\ndef f():\n    import lightning.pytorch as pl\n" + "    x = 1\n" * 20,
    "bfloat16 autocast in a def": "import torch\ndef f():\n    with torch.autocast(\"cpu\", dtype=torch.bfloat16):\n"
    + "        x = 1\n" * 20,
    "hasattr guard": "import torch\nclass M:\n" + BIG_COLD
    + "    def hot(self):\n        if hasattr(torch._dynamo.config, 'accumulated_cache_size_limit'):\n"
    "            torch._dynamo.config.accumulated_cache_size_limit = 8\n",
    "rewritten torch import above import torch": "from torch.compiler import (\n    is_compiling,\n)\n"
    "import torch\ntorch._dynamo.config.suppress_errors = True\nif x:\n    from . import _torch_compat\n",
    "decorator before body": "import torch\n@torch._dynamo.disable()\ndef f():\n"
    + "    x = 1\n" * 12 + "    return torch.utils.checkpoint.checkpoint(g)\n",
    "repeated snippet": "import torch\nclass M:\n" + BIG_COLD
    + "    def hot(self):\n        y = torch.compile(f)\n        y = torch.compile(f)\n",
    # a gate whose branch for newer torch is the rest of the block: the def must be parsed whole
    "fall-through gate in a long def": "import torch\nfrom . import _torch_compat\n\ndef norm(dim):\n"
    + "    x = 1\n" * 12 + "    if torch.__version__ < '2.4':\n        return torch.nn.LayerNorm(dim)\n"
    "    return _torch_compat.RMSNorm(dim)\n",
}


UNCHANGED = {"bfloat16 autocast in a def"}  # TC012's trigger matches; every torch takes bfloat16


@pytest.mark.parametrize("name", LAYOUTS)
def test_layout(name):
    text = LAYOUTS[name]
    ast.parse(text)
    result = _same(text)
    assert (result.code is None) == (name in UNCHANGED)


@pytest.mark.parametrize("text, expected", [
    ("import torch\n\x0cz = 1\ny = torch.compile(f)\n",
     "import torch\nfrom . import _torch_compat\n\x0cz = 1\ny = _torch_compat.compile(f)\n"),
    ("import torch\ny = torch.compile(f)\n\n    \n",
     "import torch\nfrom . import _torch_compat\ny = _torch_compat.compile(f)\n\n    \n"),
])
def test_bytes_libcst_drops_are_kept_outside_patched_statements(text, expected):
    """The whole-module path must refuse these files (LibCST prints them back differently);
    the statement path patches them and keeps every other byte."""
    rules = [r for r in RULES if r.matches_text(text)]
    with pytest.raises(engine.LossyInput):
        engine.transform_module(cst.parse_module(text), text, rules, "pkg/mod.py")
    assert engine.transform_source(text, rules, "pkg/mod.py").code == expected


def test_only_hot_statements_go_through_libcst(monkeypatch):
    """A class of 40 cold methods and one hot one: LibCST sees the hot method, not the class."""
    text = LAYOUTS["hot method in a big class"]
    results = []
    parsed = _parsed_during(monkeypatch, lambda: results.append(engine.transform_source(text, RULES, "pkg/mod.py")))
    result = results[0]
    assert result.code is not None and "_torch_compat.tree_map(f, a, b)" in result.code
    assert sum(s.count("\n") for s in parsed) <= 6, parsed
    assert not any("cold_" in s for s in parsed)


def test_lone_cr_line_numbers_follow_python():
    """Python ends a line at a lone CR; site lines must agree with ``ast``."""
    text = "import torch\rx = 1\ry = torch.compile(f)\n"
    result = engine.transform_source(text, RULES, "pkg/mod.py")
    assert result.code == "import torch\rfrom . import _torch_compat\rx = 1\ry = _torch_compat.compile(f)\n"
    call = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Attribute) and n.attr == "compile")
    assert [s.line for s in result.sites if s.code == "TC011"] == [call.lineno] == [3]


def test_walker_visits_children_in_libcst_order():
    """The walker's child order must be LibCST's (source order): rules record sites and ask for
    imports in visiting order. Derived from each node class's ``_visit_and_replace_children``."""
    import dataclasses
    import inspect
    import re

    visit = re.compile(r'visit_\w+\(\s*self,\s*"(\w+)"')
    trivia = re.compile(r"whitespace|^lpar$|^rpar$|comma|semicolon|leading_lines|lines_after_decorators|^header$"
                        r"|^footer$|^equal$|^dot$|colon|^lbrace$|^rbrace$|^lbracket$|^rbracket$|^operator$"
                        r"|^asynchronous$|posonly_ind|^relative$|^star$")

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    checked = 0
    for cls in set(subclasses(cst.CSTNode)):
        method = cls.__dict__.get("_visit_and_replace_children")
        if method is None or not dataclasses.is_dataclass(cls):
            continue
        expected = []
        for name in visit.findall(inspect.getsource(method)):
            if name not in expected and not trivia.search(name):
                expected.append(name)
        ours = [n for n in traversal.child_fields(cls) if n in expected]
        assert ours == expected, cls.__name__
        checked += 1
    assert checked > 80


def _parsed_during(monkeypatch, fn):
    parsed = []
    real = cst.parse_module

    def recording(source, *a, **kw):
        parsed.append(source)
        return real(source, *a, **kw)

    monkeypatch.setattr(cst, "parse_module", recording)
    fn()
    monkeypatch.setattr(cst, "parse_module", real)
    return parsed


def test_idempotence_pass_skips_statements_the_first_pass_left_alone(monkeypatch):
    text = ("import torch\nfrom torch.utils import _pytree\n"
            "one = _pytree.tree_map(f, a)\n"  # hot (tree_map) but single-tree: left alone
            "two = _pytree.tree_map(f, a, b)\n")  # rewritten
    first = engine.transform_source(text, RULES, "pkg/mod.py")
    assert first.code is not None and "_torch_compat.tree_map(f, a, b)" in first.code
    parsed = _parsed_during(monkeypatch, lambda: engine.transform_source(
        first.code, RULES, "pkg/mod.py", tree=first.tree, reuse=first.reuse))
    assert [p for p in parsed if "tree_map(f, a, b)" in p]  # the rewritten statement is checked again
    assert not [p for p in parsed if "tree_map(f, a)\n" in p]
    # Without the first pass's record, both are parsed (what `reuse` saves).
    parsed = _parsed_during(monkeypatch, lambda: engine.transform_source(first.code, RULES, "pkg/mod.py"))
    assert [p for p in parsed if "tree_map(f, a)\n" in p]


def test_idempotence_pass_rechecks_a_statement_whose_bindings_changed(monkeypatch):
    """The first pass inserts ``import torch._dynamo``: a statement that reaches ``_dynamo`` reads
    differently under the new bindings and must be parsed again."""
    text = "import torch\nx = torch._dynamo.config.verbose\n"
    first = engine.transform_source(text, RULES, "pkg/mod.py")
    assert first.code == "import torch\nimport torch._dynamo\nx = torch._dynamo.config.verbose\n"
    parsed = _parsed_during(monkeypatch, lambda: engine.transform_source(
        first.code, RULES, "pkg/mod.py", tree=first.tree, reuse=first.reuse))
    assert [p for p in parsed if "config.verbose" in p]


def test_idempotence_check_still_catches_a_rule_that_rewrites_its_own_output(tmp_path, monkeypatch):
    """A rule that is not idempotent must still fail `check`, reuse or not."""
    from sam3d_codemod.codemods.rules import tc007_index_add_dtype as tc007

    monkeypatch.setattr(tc007, "_already_cast", lambda source, dest: False)  # casts again every pass
    monkeypatch.setattr(tc007, "_dtype_cast_arg", lambda source, resolve=None: None)  # ... on top of its own cast
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text("import torch\nfrom torch.utils import _pytree\none = _pytree.tree_map(f, a)\n"
                              "x.index_add_(0, i, s)\n")
    from sam3d_codemod.cli import runner

    report = runner.run([str(tmp_path)], runner.Options(jobs=1, cache=False), verify=True)
    assert [o.error for o in report.errors] and "not idempotent" in report.errors[0].error
