"""The API table dates what a release exposes at run time, not only what its stubs declare.

torch 2.0 creates ``torch.return_types.min`` and its siblings at import time (from
``torch._C._return_types``) and ships no stub for them; the static scan alone dated them to 2.1,
so TC100 failed code that runs on 2.0. ``scripts/gen_api_table.py --runtime 2.0=PYTHON`` probes a
real torch 2.0 (``scripts/api_runtime_probe.py``); the committed table records that probe.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sam3d_codemod.codemods.apiscan import scan as api_scan
from sam3d_codemod.codemods.apiscan import table as api_table

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "codemods" / "data" / "torch_api.json"


def _script(name):
    spec = importlib.util.spec_from_file_location(f"_sam3d_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_TIME_IN_2_0 = [
    "torch.return_types.min", "torch.return_types.max", "torch.return_types.topk", "torch.return_types.sort",
    "torch.return_types.svd", "torch.return_types.aminmax", "torch.Tensor.is_cpu", "torch.Tensor.retains_grad",
]


@pytest.mark.parametrize("symbol", RUN_TIME_IN_2_0)
def test_run_time_names_are_not_dated_after_2_0(symbol):
    assert api_table.load().first_release(symbol) is None


def test_committed_table_records_its_runtime_probe():
    data = json.loads(DATA.read_text())
    assert data["runtime_probed"]["2.0"].startswith("2.0.")


def test_return_types_pass_the_scan():
    text = (
        "import torch\n"
        "def smallest(x) -> torch.return_types.min:\n"
        "    out = torch.min(x, dim=0)\n"
        "    assert isinstance(out, torch.return_types.min)\n"
        "    return out\n"
    )
    assert api_scan.scan(text, "mod.py") == []


def test_a_newer_name_still_fails_the_scan():
    sites = api_scan.scan("import torch\nwith torch.nn.attention.sdpa_kernel(b):\n    pass\n", "mod.py")
    assert sites and all(s.code == "TC100" for s in sites)


def test_apply_runtime_moves_dates():
    gen = _script("gen_api_table")
    table = {"versions": ["2.0", "2.1", "2.3"], "known_in_oldest_count": 5,
             "first_release": {"a.x": "2.1", "a.y": "2.3", "a.z": "2.3", "a.w": "2.1"}, "removed_in": {}}
    assert gen.apply_runtime(table, "2.0.0", {"a.x", "a.q"}, "2.0.0+cpu") == 1
    assert "a.x" not in table["first_release"] and table["known_in_oldest_count"] == 6
    assert gen.apply_runtime(table, "2.1.2", {"a.y", "a.w"}, "2.1.2") == 1
    assert table["first_release"] == {"a.y": "2.1", "a.z": "2.3", "a.w": "2.1"}
    assert table["runtime_probed"] == {"2.0": "2.0.0+cpu", "2.1": "2.1.2"}


def test_probe_answers_from_the_running_interpreter(tmp_path):
    """The probe resolves attributes, submodules and keyword parameters of a real module tree;
    a namespace that answers every attribute proves nothing."""
    pkg = tmp_path / "torch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "__version__ = '2.0.0'\n"
        "from . import return_types\n"
        "def load(f, map_location=None, *, weights_only=False, **pickle_load_args): pass\n"
        "class _Anything:\n"
        "    def __getattr__(self, name): return 1\n"
        "ops = _Anything()\n"
    )
    (pkg / "return_types.py").write_text("globals()['min'] = tuple\n")
    (pkg / "extra.py").write_text("VALUE = 1\n")
    symbols = ["torch.return_types.min", "torch.return_types.max", "torch.extra.VALUE", "torch.nope",
               "torch.load(weights_only=)", "torch.load(mmap=)", "torch.load(**pickle_load_args=)",
               "torch.ops.aten"]
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_runtime_probe.py")], input=json.dumps(symbols),
                          capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}, check=True)
    answer = json.loads(proc.stdout)
    assert answer["torch"] == "2.0.0"
    assert answer["present"] == ["torch.return_types.min", "torch.extra.VALUE", "torch.load(weights_only=)",
                                 "torch.load(**pickle_load_args=)"]
