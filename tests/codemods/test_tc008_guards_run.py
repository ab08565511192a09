"""TC008's widened guards, run: a kaolin whose import raises RuntimeError (as a broken warp.so
does) reaches the user's own fallback instead of escaping."""
import sys
import types
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tc008_optional_kaolin"


@pytest.fixture
def broken_kaolin(tmp_path, monkeypatch):
    pkg = tmp_path / "kaolin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('raise RuntimeError("Error loading warp.so")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))  # the fixture's own `import torch`
    for name in [n for n in sys.modules if n == "kaolin" or n.startswith("kaolin.")]:
        monkeypatch.delitem(sys.modules, name)


def _run(name):
    namespace = {"__name__": "fixture"}
    exec(compile((FIXTURES / name).read_text(), name, "exec"), namespace)
    return namespace


def test_before_the_guard_does_not_catch_it(broken_kaolin):
    with pytest.raises(RuntimeError, match="warp.so"):
        _run("guarded.in.py")


def test_widened_guard_runs_the_users_fallback(broken_kaolin):
    with pytest.raises(RuntimeError, match="warp.so"):
        # the third try keeps the user's own `except RuntimeError: raise`
        _run("guarded.out.py")
    text = (FIXTURES / "guarded.out.py").read_text().split("try:\n    import kaolin.ops.mesh")[0]
    namespace = {"__name__": "fixture"}
    exec(compile(text, "guarded.out.py", "exec"), namespace)
    assert namespace["kaolin"] is None and namespace["HAS_KAOLIN"] is False
    assert namespace["check_tensor"] is None
