"""The harness's report of which modules came from the stand-in finder (no torch needed)."""
import sys
import types

from inference_e2e import environment
from sam3d_codemod.codemods.probe import vp_stand_ins


def test_a_package_whose_module_getattr_imports_is_not_asked_for_the_mark(monkeypatch):
    # utils3d's `__getattr__` imports `.NAME` for any name: asking it for the mark raised
    # ModuleNotFoundError and ended every worker after the inference had run (H100 run, 2026-12-07).
    lazy = types.ModuleType("lazy_pkg")

    def __getattr__(name):
        raise ModuleNotFoundError(f"No module named 'lazy_pkg.{name}'")

    lazy.__getattr__ = __getattr__
    placeholder = types.ModuleType("placeholder_pkg.sub")
    setattr(placeholder, vp_stand_ins.MARK, True)
    monkeypatch.setitem(sys.modules, "lazy_pkg", lazy)
    monkeypatch.setitem(sys.modules, "placeholder_pkg.sub", placeholder)
    assert "placeholder_pkg.sub" in environment.placeholders_imported()
    assert "lazy_pkg" not in environment.placeholders_imported()
    assert "placeholder_pkg.sub" not in vp_stand_ins.used()  # top-level packages only
    assert environment.origins(["lazy_pkg", "placeholder_pkg.sub"]) == {"lazy_pkg": "in memory",
                                                                        "placeholder_pkg.sub": "placeholder"}
