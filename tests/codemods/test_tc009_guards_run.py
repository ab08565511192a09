"""TC009's guarded outputs, imported for real: the package imports without its unshipped ``init``,
and an ``init`` that exists but fails on another missing module still raises."""
import importlib
import shutil
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tc009_package_init"
CASES = ["import_module", "dunder_import", "dunder_import_level", "from_import"]


def _load(tmp_path, case, init_text=None, package="sam3d_objects"):
    pkg = tmp_path / package
    pkg.mkdir()
    shutil.copy(FIXTURES / case / "sam3d_objects" / "__init__.out.py", pkg / "__init__.py")
    for sibling in (FIXTURES / case / "sam3d_objects").glob("*.py"):
        if not sibling.name.endswith((".in.py", ".out.py")):
            shutil.copy(sibling, pkg / sibling.name)
    if init_text is not None:
        (pkg / "init.py").write_text(init_text)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]


@pytest.mark.parametrize("case", CASES)
def test_imports_without_init(tmp_path, monkeypatch, case):
    monkeypatch.delenv("LIDRA_SKIP_INIT", raising=False)
    if case == "import_module":
        # the fixture also imports another package's init on purpose: that one must still raise
        with pytest.raises(ModuleNotFoundError) as info:
            _load(tmp_path, case)
        assert info.value.name == "other_pkg"
    else:
        assert _load(tmp_path, case).__name__ == "sam3d_objects"


@pytest.mark.parametrize("case", CASES)
def test_other_missing_module_still_raises(tmp_path, monkeypatch, case):
    monkeypatch.delenv("LIDRA_SKIP_INIT", raising=False)
    with pytest.raises(ModuleNotFoundError) as info:
        _load(tmp_path, case, init_text="import not_installed_dependency_xyz\n")
    assert info.value.name == "not_installed_dependency_xyz"


def test_from_import_of_a_broken_init_still_raises(tmp_path, monkeypatch):
    """init.py is there but fails with "cannot import name" of its own: not ours to tolerate."""
    monkeypatch.delenv("LIDRA_SKIP_INIT", raising=False)
    with pytest.raises(ImportError, match="cannot import name 'nothing_here'"):
        _load(tmp_path, "from_import", init_text="from os import nothing_here\n")


def test_vendored_under_another_name(tmp_path, monkeypatch):
    """``__name__``-built names follow the package's run-time name (a vendored copy)."""
    monkeypatch.delenv("LIDRA_SKIP_INIT", raising=False)
    # only the __name__-relative statements are kept: the literal one names sam3d_objects.init
    text = (FIXTURES / "dunder_import" / "sam3d_objects" / "__init__.out.py").read_text()
    pkg = tmp_path / "vendored_sam3d"
    pkg.mkdir()
    keep = text.split('    try:\n        __import__("sam3d_objects.init")')[0]
    rest = text.split("            raise\n", 1)[1]
    (pkg / "__init__.py").write_text(keep + rest)
    sys.path.insert(0, str(tmp_path))
    try:
        assert importlib.import_module("vendored_sam3d").__name__ == "vendored_sam3d"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("vendored_sam3d", None)
