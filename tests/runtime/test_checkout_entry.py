"""The users' entry path on a full checkout (issue 12): ``python demo.py`` -> ``notebook/inference.py``
-> ``InferencePipelinePointMap``, under this torch, with kaolin broken as in the seed (its import
raises ``OSError: Error loading warp.so``). The checkout is the stand-in of tests/checkout.py (the
PyPI tree plus our notebook/demo scripts); packages the env lacks are the import stubs of
tests/runtime/stubs. Unpatched it dies at the notebook's kaolin import; patched it runs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from ..checkout import upstream_tree
from .conftest import STUBS

pytestmark = [pytest.mark.runtime, pytest.mark.realtree]


def demo(tree: Path, tmp_path: Path):
    broken = tmp_path / "broken"
    (broken / "kaolin").mkdir(parents=True, exist_ok=True)
    (broken / "kaolin" / "__init__.py").write_text('raise OSError("Error loading warp.so")\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(broken), str(STUBS), str(tree)]))
    code = ("import runpy, sys; sys.argv = ['demo.py']; runpy.run_path('demo.py', run_name='__main__');"
            "import inference, sam3d_objects.pipeline.inference_pipeline_pointmap as p;"
            "print('entry OK', p.InferencePipelinePointMap.__name__)")
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_demo_entry_path_runs_patched_and_fails_unpatched(tmp_path):
    tree = upstream_tree(tmp_path / "checkout")
    before = demo(tree, tmp_path)
    assert before.returncode != 0
    assert "Error loading warp.so" in before.stderr and "notebook/inference.py" in before.stderr
    apply = subprocess.run([sys.executable, "-m", "sam3d_codemod", "apply", str(tree), "--no-cache", "-q"],
                           capture_output=True, text=True, timeout=300)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    after = demo(tree, tmp_path)
    assert after.returncode == 0, after.stderr[-3000:]
    assert "entry OK InferencePipelinePointMap" in after.stdout
