"""TC006's widened guards, run: a Lightning whose import raises RuntimeError (as it does beside a
torchvision built for another torch) reaches the user's own fallback instead of escaping."""
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tc006_optional_lightning"


@pytest.fixture
def broken_lightning(tmp_path, monkeypatch):
    for package in ("lightning", "pytorch_lightning"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(
            'raise RuntimeError("operator torchvision::nms does not exist")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [n for n in sys.modules if n.split(".")[0] in ("lightning", "pytorch_lightning")]:
        monkeypatch.delitem(sys.modules, name)


def _run(name):
    namespace = {"__name__": "fixture"}
    exec(compile((FIXTURES / name).read_text(), name, "exec"), namespace)
    return namespace


def test_before_the_guard_does_not_catch_it(broken_lightning):
    with pytest.raises(RuntimeError, match="torchvision::nms"):
        _run("guarded.in.py")


def test_widened_guard_runs_the_users_fallback(broken_lightning):
    namespace = _run("guarded.out.py")
    assert namespace["pl"] is None and namespace["HAS_LIGHTNING"] is False
    assert namespace["rank_zero_only"](len) is len  # the user's own stand-in decorator
