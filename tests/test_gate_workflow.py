"""The reusable workflow (.github/workflows/sam3d-upstream-gate.yml): installs the tool from the
repository and ref it is given (never the caller's owner), copies nothing, caches the torch env, and
runs the `gate` command with the options inputs."""
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "sam3d-upstream-gate.yml"


def test_workflow_installs_from_its_inputs_and_runs_the_gate_command():
    text = WORKFLOW.read_text()
    data = yaml.safe_load(text)
    inputs = data[True]["workflow_call"]["inputs"]  # YAML 1.1 reads `on` as True
    assert {"tree", "lock", "codemod-repository", "codemod-ref", "options", "verify-options", "torch"} <= set(inputs)
    assert "repository_owner" not in text and "cp -r" not in text and "git clone" not in text
    steps = data["jobs"]["gate"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert 'pip install "git+https://github.com/${REPO}@${REF}"' in runs
    assert "sam3d-codemod gate" in runs and "$OPTIONS" in runs and "$VERIFY_OPTIONS" in runs
    cache = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert cache and "torch" in cache[0]["with"]["key"]
    install = [s for s in steps if "torch-cache.outputs.cache-hit" in str(s.get("if", ""))]
    assert install, "the torch env is built only on a cache miss"
