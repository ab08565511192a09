"""Trees other than ``sam3d_objects`` (issue 16): a TRELLIS-shaped package and a vendored copy get
their ``_torch_compat`` in the right package, Lightning placeholders with the right pip name and
working rank-zero decorators, and the drift rules; TC010 leaves the yaml alone. The runtime test
imports the patched tree under real torch without Lightning installed."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli.main import main
from sam3d_codemod.codemods.rules import tc010_pipeline_yaml as tc010

ROOT = Path(__file__).resolve().parents[1]

FILES = {
    "__init__.py": "from . import modules\n",
    "modules/__init__.py": "",
    "modules/norm.py": """\
        import torch
        import torch.nn as nn


        class QKNorm(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.q = nn.RMSNorm(dim, eps=1e-6)

            def forward(self, x):
                return self.q(x)
        """,
    "utils/__init__.py": "",
    "utils/callback.py": """\
        import torch
        import pytorch_lightning as pl
        from pytorch_lightning.utilities import rank_zero_only
        from pytorch_lightning.callbacks import Callback
        from {pkg}.modules.norm import QKNorm


        class MeshLog(Callback):
            @rank_zero_only
            def on_end(self):
                return "logged"

            @pl.utilities.rank_zero_only
            def other(self):
                return "other"


        @rank_zero_only
        def log_once():
            return QKNorm(4)(torch.ones(2, 4)).sum().item()


        def load(path):
            return torch.load(path, map_location="cpu", mmap=True)


        def scaler():
            return torch.GradScaler("cuda", enabled=False)
        """,
}


def build(root: Path, pkg: str = "trellis") -> Path:
    for rel, text in FILES.items():
        path = root / pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).format(pkg=pkg))
    return root


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args] + ["--no-cache"], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("layout", ["trellis", "vendored"])
def test_trellis_tree_is_patched_in_its_own_package(tmp_path, layout):
    if layout == "trellis":
        tree = build(tmp_path / "tree")
        package = tree / "trellis"
    else:  # a vendored sub-package inside a host project that is no package itself
        tree = tmp_path / "tree"
        build(tree / "third_party")
        package = tree / "third_party" / "trellis"
    code, out = invoke("apply", tree, "--output-format", "json")
    data = json.loads(out)
    assert code == 0 and not data["errors"], out
    assert (package / "_torch_compat.py").is_file()
    assert [p.relative_to(tree) for p in tree.rglob("_torch_compat.py")] == [(package / "_torch_compat.py").relative_to(tree)]
    callback = (package / "utils" / "callback.py").read_text()
    assert '_torch_compat.missing("pytorch-lightning", "pytorch_lightning", ' in callback
    assert "rank_zero_only = _torch_compat.rank_zero_only" in callback
    assert "_torch_compat.load(path, map_location=\"cpu\", mmap=True)" in callback
    assert "_torch_compat.GradScaler(\"cuda\", enabled=False)" in callback
    assert "_torch_compat.RMSNorm(dim, eps=1e-6)" in (package / "modules" / "norm.py").read_text()
    found = {r["code"]: r["patched"] for r in data["rules"] if r["patched"]}
    assert found["TC020"] == 1 and found["TC021"] == 1 and found["TC022"] == 1 and found["TC006"] == 3
    code, out = invoke("check", tree)
    assert code == 0, out


@pytest.mark.parametrize("text", [
    "device: cuda\ncompile_model: true  # compile\n",
    "device: cuda\ncompile_model: false  # patched by an older sam3d-codemod\n",
    "compile_model: True\r\nx: 1\r\n",
])
def test_tc010_leaves_the_yaml_alone_and_notes_compile_model_true(text):
    new, lines = tc010.transform_text(text)
    assert new == text
    assert lines == ([2] if "true" in text else [1] if "True" in text else [])


def test_tc010_apply_keeps_compile_model_and_reports_a_note(tmp_path):
    config = tmp_path / "checkpoints" / "hf" / "pipeline.yaml"
    config.parent.mkdir(parents=True)
    config.write_bytes(b"compile_model: true\n")
    (tmp_path / "run.py").write_text("x = 1\n")  # a tree with no Python file at all is an error (issue 22)
    code, out = invoke("apply", tmp_path, "--output-format", "json")
    assert config.read_bytes() == b"compile_model: true\n"
    sites = [s for s in json.loads(out)["sites"] if s["code"] == "TC010"]
    assert [(s["status"], s["line"]) for s in sites] == [("note", 1)] and "_torch_compat.compile" in sites[0]["message"]


@pytest.mark.runtime
def test_patched_trellis_tree_runs_without_lightning(tmp_path):
    pytest.importorskip("torch")
    tree = build(tmp_path / "tree")
    code, out = invoke("apply", tree)
    assert code == 0, out
    probe = textwrap.dedent("""\
        import sys, torch
        sys.modules["pytorch_lightning"] = None  # make the import fail like a missing install
        from trellis.utils import callback
        assert callback.MeshLog.on_end(None) == "logged" and callback.MeshLog.other(None) == "other"
        assert abs(callback.log_once() - 8.0) < 1e-4
        torch.save({"a": torch.arange(3)}, "ckpt.pt")
        assert torch.equal(callback.load("ckpt.pt")["a"], torch.arange(3))
        assert not callback.scaler().is_enabled()
        try:
            callback.MeshLog()
        except RuntimeError as e:
            assert "pip install pytorch-lightning" in str(e), e
        else:
            raise AssertionError("placeholder Callback instantiated")
        print("ok")
        """)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tree, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(tree)))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
