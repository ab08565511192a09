"""``sam3d-codemod verify`` is honest on trees that are not the upstream layout (issues 12, 16).

On copies of the patched sample tree, run through the CLI with this (torch) interpreter:

* a fork: the checked code moved to another module, FlexiCubes without any ``check_tensor`` (a fork
  that commented out the kaolin import crashed the probe before), no ``pipeline/`` package: the
  moved code is still checked, the missing paths are N/A with their reason, exit 0;
* a module that imports a package the environment lacks: the imports and checks that need it are
  "skipped (needs X)", the verdict says how many checks ran, exit 3 (incomplete), never 0.
"""
import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytestmark = pytest.mark.runtime

from sam3d_codemod.cli.main import main  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "sample-tree"
PIPELINE_CHECKS = {"pipeline_dynamo_config", "compile_fallback", "attention_backend_select"}


def _patched_copy(tmp_path):
    from sam3d_codemod.cli.runner import Options, run

    dest = tmp_path / "tree"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    report = run([str(dest)], Options(), write=True)
    assert not report.errors
    return dest / "sam3d_objects"


def _verify(tree):
    result = CliRunner().invoke(main, ["verify", str(tree), "--python", sys.executable, "--device", "cpu", "--output-format", "json"],
                                catch_exceptions=False)
    return result.exit_code, json.loads(result.output)


def test_fork_layout_moved_code_is_checked_missing_code_does_not_apply(tmp_path):
    pkg = _patched_copy(tmp_path)
    (pkg / "model" / "checkpoints").mkdir()
    (pkg / "model" / "checkpoints" / "__init__.py").write_text("")
    (pkg / "model" / "io.py").rename(pkg / "model" / "checkpoints" / "loading.py")
    flexi = pkg / "model" / "backbone" / "representations" / "flexicubes.py"
    text = flexi.read_text()
    start = text.index("def mean_edge_length")
    flexi.write_text("import torch\n\n\n" + text[start:].replace(
        "assert torch.is_tensor(dist) and check_tensor(dist, (None,), throw=False)", "assert torch.is_tensor(dist)"))
    assert "check_tensor" not in flexi.read_text()
    shutil.rmtree(pkg / "pipeline")

    code, data = _verify(pkg)
    checks = {u["name"]: u for u in data["checks"]}
    assert code == 0, data["verdict"]
    assert checks["load_checkpoint"]["status"] == "ok"
    assert checks["load_checkpoint"]["info"]["module"] == "sam3d_objects.model.checkpoints.loading"
    assert checks["flexicubes_fp16"]["status"] == "ok", checks["flexicubes_fp16"]
    assert checks["flexicubes_fp16"]["info"]["check_tensor_from"] == "absent"
    assert {n for n, u in checks.items() if u["status"] == "n/a"} == PIPELINE_CHECKS
    assert all("not in this tree" in checks[n]["cause"] for n in PIPELINE_CHECKS)
    assert data["summary"]["checks_ran"] == 10 and data["summary"]["checks_not_applicable"] == 3
    assert data["verdict"].startswith("verify: OK: 10 of 13 smoke checks ran; 3 do not apply to this tree: ")


def test_missing_package_is_incomplete_exit_3(tmp_path):
    pkg = _patched_copy(tmp_path)
    pipeline = pkg / "pipeline" / "inference_pipeline.py"
    pipeline.write_text("import zz_not_installed_pkg  # noqa\n" + pipeline.read_text())

    code, data = _verify(pkg)
    checks = {u["name"]: u for u in data["checks"]}
    assert code == 3, data["verdict"]
    skipped = {n for n, u in checks.items() if u["status"] == "skip"}
    assert skipped == PIPELINE_CHECKS
    assert all(checks[n]["package"] == "zz-not-installed-pkg" for n in skipped)
    imports = {u["name"]: u for u in data["imports"]}
    assert imports["sam3d_objects.pipeline.inference_pipeline"]["status"] == "skip"
    assert data["missing_packages"] == ["zz-not-installed-pkg"]
    assert data["summary"]["checks_ran"] == 10 and data["summary"]["torch_api"] == 0
    assert data["verdict"].startswith("verify: INCOMPLETE: 10 of 13 smoke checks ran; 3 skipped: ")
    assert "pipeline_dynamo_config (needs zz-not-installed-pkg)" in data["verdict"]

    text = CliRunner().invoke(main, ["verify", str(pkg), "--python", sys.executable, "--device", "cpu"], env={"COLUMNS": "300"}).output
    assert "skipped (needs zz-not-installed-pkg)" in text and "verify: INCOMPLETE" in text
