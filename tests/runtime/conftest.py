"""Shared fixtures of the runtime tier: trees, the verify probe, what this torch lacks.

Every scenario runs in a subprocess (the probe, ``codemods/probe/verify_probe.py``, which forks
one child per unit from a state where only torch is imported), so the pristine and the patched
copies of ``sam3d_objects`` never meet in one interpreter and no module's ``import torch._dynamo``
hides another module's failure.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).resolve().parent / "stubs"
PROBE = ROOT / "codemods" / "probe" / "verify_probe.py"
SAMPLE = ROOT / "fixtures" / "sample-tree"

# Optional packages the patched tree must do without: blocked so their fallbacks run.
OPTIONAL_BLOCKED = ("lightning", "kaolin")

_FEATURES = r"""
import json, sys, warnings
import torch
out = {"torch": torch.__version__, "python": sys.version_info[:2]}
# reachable as attributes right after ``import torch`` (newer torch loads them lazily on access)
out["dynamo_attr"] = hasattr(torch, "_dynamo")
out["checkpoint_attr"] = hasattr(torch.utils, "checkpoint")
try:
    import torch.nn.attention as a
    out["nn_attention"] = hasattr(a, "sdpa_kernel") and hasattr(a, "SDPBackend")
except ImportError:
    out["nn_attention"] = False
import inspect, torch.utils._pytree as p
out["tree_map_multi"] = any(x.kind is inspect.Parameter.VAR_POSITIONAL for x in inspect.signature(p.tree_map).parameters.values())
out["torch_compiler"] = hasattr(torch, "compiler")
out["compiler_is_compiling"] = hasattr(getattr(torch, "compiler", None), "is_compiling")
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autocast(device_type="cpu", dtype=torch.float32):
            pass
    out["cpu_autocast_fp32_raises"] = False
except RuntimeError:
    out["cpu_autocast_fp32_raises"] = True
try:
    torch.compile(torch.nn.Linear(1, 1))
    out["compile_supported"] = True
except RuntimeError:
    out["compile_supported"] = False
import torch._dynamo
out["dynamo_has_accumulated_cache_size_limit"] = hasattr(torch._dynamo.config, "accumulated_cache_size_limit")
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def torch_features():
    """What this torch has, asked in a fresh interpreter (``import torch`` only)."""
    proc = subprocess.run([sys.executable, "-c", _FEATURES], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe_env(**extra):
    env = dict(os.environ)
    env.pop("ATTN_BACKEND", None)
    env.pop("SAM3D_CODEMOD_FORCE_FALLBACK", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def run_probe(package_dir, tmp_path, *args, env=None, stubs=True, timeout=900):
    """Run the verify probe on ``package_dir`` with this interpreter; returns the JSON report."""
    out = Path(tmp_path) / ("probe-%d.json" % len(list(Path(tmp_path).glob("probe-*.json"))))
    cmd = [sys.executable, str(PROBE), "--package-dir", str(package_dir), "--json-out", str(out), "--device", "cpu"]
    if stubs:  # CUDA-only/git-only/heavy packages: the product's stand-ins; light ones the envs lack: tests/runtime/stubs
        cmd += ["--sys-path", str(STUBS), "--stand-ins", "default"]
    cmd += [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or probe_env(), timeout=timeout)
    assert proc.returncode == 0, "probe failed (%d): %s" % (proc.returncode, proc.stderr[-3000:])
    return json.loads(out.read_text())


def by_name(report, kind):
    return {u["name"]: u for u in report[kind]}


def describe(unit):
    return "%s %s: %s %s [%s] at %s\n%s" % (unit["kind"], unit["name"], unit["status"], unit.get("category"),
                                          unit.get("error") or unit.get("cause"), unit.get("where"), unit.get("traceback", ""))


@pytest.fixture(scope="session")
def pristine_copy(tmp_path_factory):
    """A copy of the PyPI sam3d==0.1.2 tree, unpatched (PYTHONDONTWRITEBYTECODE keeps the cache clean anyway)."""
    from tests.realtree import fresh_copy

    return fresh_copy(tmp_path_factory.mktemp("pristine")) / "sam3d_objects"


@pytest.fixture(scope="session")
def patched_copy(tmp_path_factory):
    """The PyPI tree patched once per session by the codemod, in-process."""
    from sam3d_codemod.cli.runner import Options, run
    from tests.realtree import fresh_copy

    package = fresh_copy(tmp_path_factory.mktemp("patched")) / "sam3d_objects"
    report = run([str(package)], Options(), write=True)
    assert not report.errors, [(o.rel, o.error) for o in report.errors]
    assert not report.unhandled, [(s.path, s.line, s.message) for s in report.unhandled]
    assert (package / "_torch_compat.py").is_file()
    return package
