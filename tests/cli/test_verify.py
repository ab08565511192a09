"""``sam3d-codemod verify``: the probe under a target interpreter, its causes and exit codes.

Decision (documented in cli/verify.py): an interpreter without torch cannot verify anything, so
verify exits 2 (like other usage/environment errors) with a message that says to pass ``--python``
with the SAM 3D environment's interpreter; 1 is kept for "verified, and torch-API failures remain".

The fast tests need no torch (they use ``python -S``, which has no site-packages, or a canned probe
report); the ``runtime`` tests run verify with this (torch) interpreter on the sample tree and on
the PyPI tree, patched (exit 0) and unpatched (exit 1 with torch-API causes).
"""
import importlib.util
import inspect
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli import verify as verifier
from sam3d_codemod.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample-tree"
STUBS = ROOT / "tests" / "runtime" / "stubs"


def invoke(*args, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)
    return result.exit_code, result.output


@pytest.fixture
def torchless_python(tmp_path):
    """An interpreter that certainly has no torch: this one with -S (no site-packages)."""
    if os.name == "nt":
        pytest.skip("POSIX wrapper script")
    wrapper = tmp_path / "python-no-site"
    wrapper.write_text('#!/bin/sh\nexec "%s" -S "$@"\n' % sys.executable)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper


def load_probe():
    spec = importlib.util.spec_from_file_location("sam3d_verify_probe_under_test", verifier.probe_path())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- fast (no torch)
def test_interpreter_without_torch_exits_2_with_clear_message(torchless_python):
    code, out = invoke("verify", SAMPLE, "--python", torchless_python)
    assert code == 2
    assert "torch cannot be imported" in out and "No module named 'torch'" in out
    assert "--python" in out  # says what to do


def test_interpreter_without_torch_json(torchless_python):
    code, out = invoke("verify", SAMPLE, "--python", torchless_python, "--output-format", "json")
    assert code == 2
    data = json.loads(out)
    assert data["exit_code"] == 2 and "torch" in data["error"]


def test_usage_errors_exit_2(tmp_path):
    assert invoke("verify", tmp_path / "nope")[0] == 2
    (tmp_path / "empty").mkdir()
    code, out = invoke("verify", tmp_path / "empty")
    assert code == 2 and "no Python package" in out
    code, out = invoke("verify", SAMPLE, "--python", tmp_path / "no-such-python")
    assert code == 2 and "cannot run" in out
    assert invoke("verify", SAMPLE, "--device", "tpu")[0] == 2  # click usage error


def test_resolve_package(tmp_path):
    assert verifier.resolve_package(str(SAMPLE)) == (SAMPLE / "sam3d_objects").resolve()
    assert verifier.resolve_package(str(SAMPLE / "sam3d_objects")) == (SAMPLE / "sam3d_objects").resolve()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    with pytest.raises(verifier.VerifyError, match="several packages"):
        verifier.resolve_package(str(tmp_path))


def _unit(kind, name, status="ok", category=None, **kw):
    data = {"kind": kind, "name": name, "status": status, "category": category, "error": None, "package": None,
            "cause": None, "where": None, "info": {}, "warnings": [], "rules": "TC005"}
    data.update(kw)
    return data


def _report(*units):
    return {"package_dir": "/x/sam3d_objects", "package": "sam3d_objects", "torch": "2.0.0", "python": "3.11", "device": "cpu",
            "imports": [u for u in units if u["kind"] == "import"], "checks": [u for u in units if u["kind"] == "check"]}


@pytest.mark.parametrize("units, code", [
    ((_unit("import", "a"), _unit("check", "c")), 0),
    ((_unit("import", "a", "fail", "missing-package", package="hydra-core", error="ModuleNotFoundError: No module named 'hydra'"),
      _unit("check", "c", "skip", package="hydra-core")), 0),
    ((_unit("import", "a"), _unit("check", "c", "fail", "torch-api", error="TypeError: tree_map() takes 2 positional arguments")), 1),
    ((_unit("import", "a", "fail", "error", error="UnboundLocalError: gpu_name"),), 1),
])
def test_exit_code_and_rendering(monkeypatch, units, code):
    report = _report(*units)
    monkeypatch.setattr(verifier, "run_probe", lambda *a, **k: report)
    got, out = invoke("verify", SAMPLE, "--python", sys.executable)
    assert got == code, out
    assert "module / path" in out and "cause" in out
    if code == 0:
        assert "no torch-API failure" in out
    got, out = invoke("verify", SAMPLE, "--python", sys.executable, "--output-format", "json")
    data = json.loads(out)
    assert got == code and data["exit_code"] == code
    if any(u["category"] == "missing-package" for u in units):
        assert "pip install hydra-core" in CliRunner().invoke(main, ["verify", str(SAMPLE)]).output
        assert data["missing_packages"] == ["hydra-core"]


def test_probe_classifies_failures_without_torch():
    probe = load_probe()

    def classify(exc):
        try:
            raise exc
        except Exception as caught:  # noqa: BLE001 - a traceback is needed
            return probe.classify(caught, "sam3d_objects")

    assert classify(ModuleNotFoundError("No module named 'torch.nn.attention'", name="torch.nn.attention"))[0] == "torch-api"
    assert classify(ModuleNotFoundError("No module named 'hydra'", name="hydra"))[:2] == ("missing-package", "hydra-core")
    assert classify(ModuleNotFoundError("No module named 'cv2'", name="cv2"))[:2] == ("missing-package", "opencv-python")
    assert classify(ModuleNotFoundError("No module named 'sam3d_objects.init'", name="sam3d_objects.init"))[0] == "error"
    assert classify(AttributeError("module 'torch' has no attribute '_dynamo'"))[0] == "torch-api"
    assert classify(AttributeError("module 'torch.utils' has no attribute 'checkpoint'"))[0] == "torch-api"
    assert classify(ImportError("cannot import name 'sdpa_kernel' from 'torch.nn.attention' (x.py)"))[0] == "torch-api"
    assert classify(UnboundLocalError("cannot access local variable 'gpu_name'"))[0] == "error"
    assert classify(TypeError("MOTBlock._apply() missing 1 required positional argument: 'module'"))[0] == "error"


def test_probe_lists_every_module():
    probe = load_probe()
    modules = probe.list_modules(str(SAMPLE / "sam3d_objects"))
    assert modules[0] == "sam3d_objects"
    assert "sam3d_objects.model.backbone.attention.mot" in modules
    assert "sam3d_objects.pipeline.inference_pipeline" in modules


# ----------------------------------------------------------------------------- runtime
def _features():
    import torch
    import torch.utils._pytree as pytree

    multi = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in inspect.signature(pytree.tree_map).parameters.values())
    return {"tree_map_multi": multi, "is_compiling": hasattr(getattr(torch, "compiler", None), "is_compiling")}


def _patched(src, tmp_path):
    from sam3d_codemod.cli.runner import Options, run

    dest = tmp_path / src.name  # a package directory keeps its name (the tree imports itself by it)
    shutil.copytree(src, dest)
    report = run([str(dest)], Options(), write=True)
    assert not report.errors
    return dest


def _verify_json(*args, env=None):
    code, out = invoke("verify", *args, "--python", sys.executable, "--device", "cpu", "--output-format", "json", env=env)
    return code, json.loads(out)


@pytest.mark.runtime
def test_runtime_patched_sample_tree_exits_0(tmp_path):
    pytest.importorskip("torch")
    tree = _patched(SAMPLE, tmp_path)
    code, data = _verify_json(tree)
    assert code == 0, json.dumps(data, indent=1)
    assert data["summary"]["imports_failed"] == 0 and data["summary"]["checks_failed"] == 0
    assert data["summary"]["checks_ok"] == 13
    assert data["torch"] and data["device"] == "cpu"


@pytest.mark.runtime
def test_runtime_cli_process_never_imports_torch(tmp_path):
    pytest.importorskip("torch")
    tree = _patched(SAMPLE, tmp_path)
    code = ("import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write('TORCH-IMPORTED' if 'torch' in sys.modules else 'NO-TORCH'))\n"
            "from sam3d_codemod.cli.main import main\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", code, "verify", str(tree), "--python", sys.executable, "--device", "cpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.strip().endswith("NO-TORCH")
    assert "OK" in proc.stdout and "module / path" in proc.stdout


@pytest.mark.runtime
def test_runtime_unpatched_sample_tree_exits_1_with_torch_api_causes():
    pytest.importorskip("torch")
    code, data = _verify_json(SAMPLE, env={"LIDRA_SKIP_INIT": "1"})
    assert code == 1
    failures = [u for u in data["imports"] + data["checks"] if u["status"] == "fail"]
    # the CUDA-only ``gpu_name`` binding (TC013) fails everywhere without CUDA: a tree bug, not torch's
    assert any(u["category"] == "error" and "gpu_name" in u["error"] for u in failures)
    if not _features()["tree_map_multi"]:
        assert any(u["category"] == "torch-api" and "tree_map()" in u["error"] for u in failures)
        assert data["summary"]["torch_api"] >= 3
    # without LIDRA_SKIP_INIT the unshipped sam3d_objects.init stops everything
    code, data = _verify_json(SAMPLE)
    assert code == 1 and "sam3d_objects.init" in data["imports"][0]["error"]


@pytest.mark.runtime
@pytest.mark.realtree
def test_runtime_pypi_tree_patched_0_unpatched_1(tmp_path):
    pytest.importorskip("torch")
    from tests.realtree import fresh_copy

    pristine = fresh_copy(tmp_path / "pristine") / "sam3d_objects"
    patched = _patched(pristine, tmp_path / "patched")
    # as a user without the optional packages: missing ones are reported, not fatal
    code, data = _verify_json(patched)
    assert code == 0, [(u["name"], u["error"]) for u in data["imports"] + data["checks"] if u["status"] == "fail"]
    assert data["summary"]["torch_api"] == 0 and data["summary"]["error"] == 0
    assert "astor" in data["missing_packages"] or data["summary"]["missing_package"] == 0
    # (with the stand-ins of tests/runtime/stubs everything runs: tests/runtime/test_realtree_runtime.py)
    # unpatched: torch-API failures (index_add_ dtypes fail on every torch)
    code, data = _verify_json(pristine, "--sys-path", STUBS, env={"LIDRA_SKIP_INIT": "1"})
    assert code == 1
    causes = [u for u in data["imports"] + data["checks"] if u["status"] == "fail" and u["category"] == "torch-api"]
    assert any("index_add_" in u["error"] for u in causes)
    if not _features()["tree_map_multi"]:
        assert any("tree_map()" in u["error"] for u in causes)
    if not _features()["is_compiling"]:
        assert any("is_compiling" in u["error"] or "'compiler'" in u["error"] for u in causes)
