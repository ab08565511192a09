"""apply / diff / check on the real upstream copy vendored in PyPI sam3d==0.1.2."""
import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli.main import main

from .realtree import fresh_copy

pytestmark = pytest.mark.realtree


def _invoke(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _sites(output: str):
    data = json.loads(output)
    return data, Counter((s["code"], s["path"]) for s in data["sites"] if s["status"] == "patched")


@pytest.fixture
def tree(tmp_path):
    return fresh_copy(tmp_path) / "sam3d_objects"


def test_apply_patches_every_known_site(tree):
    code, out = _invoke("apply", str(tree), "--output-format", "json", "-j", "1")
    data, sites = _sites(out)
    assert code == 0, data["errors"]
    def by(rule, path):
        return sites[(rule, path)]

    # dynamo: both _compile methods (3 writes each touch torch._dynamo) and the pointmap decorator
    assert by("TC002", "pipeline/inference_pipeline.py") >= 3
    assert by("TC002", "pipeline/inference_pipeline_pointmap.py") >= 3
    assert by("TC002", "model/backbone/dit/embedder/pointmap.py") == 1
    # nn.attention: the shortcut import and the full_attn use (two names on one line)
    assert by("TC003", "model/backbone/generator/shortcut/model.py") == 1
    assert by("TC003", "model/backbone/tdfy_dit/modules/attention/full_attn.py") == 2
    assert by("TC004", "model/backbone/tdfy_dit/models/structured_latent_flow.py") == 1
    # all 19 multi-tree tree_map sites; single-tree calls stay
    assert by("TC005", "model/backbone/generator/classifier_free_guidance.py") == 5
    assert by("TC005", "model/backbone/tdfy_dit/modules/attention/modules.py") == 6
    assert by("TC005", "model/backbone/tdfy_dit/modules/transformer/modulated.py") == 8
    assert sum(n for (rule, _), n in sites.items() if rule == "TC005") == 19
    assert by("TC006", "model/io.py") == 2
    assert by("TC007", "model/backbone/tdfy_dit/representations/mesh/flexicubes/flexicubes.py") == 4
    assert by("TC008", "model/backbone/tdfy_dit/representations/mesh/flexicubes/flexicubes.py") == 1
    for blocks in ("modules/transformer/blocks.py", "modules/transformer/modulated.py",
                   "modules/sparse/transformer/blocks.py", "modules/sparse/transformer/modulated.py"):
        assert by("TC001", "model/backbone/tdfy_dit/" + blocks) >= 2
    assert by("TC009", "__init__.py") == 1
    assert (tree / "_torch_compat.py").is_file()

    text = (tree / "model/backbone/tdfy_dit/modules/transformer/modulated.py").read_text()
    assert "import torch.utils.checkpoint" in text
    assert text.count("_torch_compat.tree_map(") == 8
    assert text.count("_pytree.tree_map(") == 4  # single-tree calls untouched
    pipeline = (tree / "pipeline/inference_pipeline.py").read_text()
    assert "import torch._dynamo" in pipeline
    assert 'if hasattr(torch._dynamo.config, "accumulated_cache_size_limit"):' in pipeline
    assert "torch._dynamo.config.cache_size_limit = 64" in pipeline

    # a second apply is a no-op
    before = {p: p.read_bytes() for p in tree.rglob("*.py")}
    code, out = _invoke("apply", str(tree), "--output-format", "json")
    data = json.loads(out)
    assert code == 0 and data["files_changed"] == []
    assert {p: p.read_bytes() for p in tree.rglob("*.py")} == before


def test_check_fails_before_and_passes_after(tree):
    assert _invoke("check", str(tree), "-q")[0] == 1
    assert _invoke("apply", str(tree), "-q")[0] == 0
    code, out = _invoke("check", str(tree))
    assert code == 0, out


def test_diff_equals_apply_and_git_apply_accepts_it(tree, tmp_path):
    pristine = tmp_path / "pristine"
    shutil.copytree(tree, pristine)
    result = subprocess.run([sys.executable, "-m", "sam3d_codemod", "diff", str(tree), "-q"], capture_output=True)
    assert result.returncode == 1
    patch = result.stdout
    assert patch.startswith(b"--- a/") or patch.startswith(b"diff --git")
    # diff wrote nothing
    assert sorted(p.relative_to(tree) for p in tree.rglob("*.py")) == sorted(p.relative_to(pristine) for p in pristine.rglob("*.py"))
    for p in pristine.rglob("*.py"):
        assert (tree / p.relative_to(pristine)).read_bytes() == p.read_bytes()
    # git apply in PATH reproduces apply exactly
    subprocess.run(["git", "init", "-q", str(pristine)], check=True)
    applied = subprocess.run(["git", "apply", "-"], input=patch, cwd=pristine, capture_output=True)
    assert applied.returncode == 0, applied.stderr.decode()
    assert _invoke("apply", str(tree), "-q")[0] == 0
    for p in tree.rglob("*.py"):
        assert (pristine / p.relative_to(tree)).read_bytes() == p.read_bytes(), p
