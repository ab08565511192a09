"""The version table (codemods/pins/data/companions.json): generated from pins_spec.json and PyPI
metadata (scripts/gen_pins_table.py), every entry with its source, and the one list `verify
--print-requirements` and `env` both read."""
import json
from pathlib import Path

from packaging.specifiers import SpecifierSet

from sam3d_codemod.cli.verify_requirements import all_requirements
from sam3d_codemod.codemods.pins.table import TABLE_FILE, load_target

SPEC = json.loads((TABLE_FILE.parent / "pins_spec.json").read_text())
TARGET = load_target("2.0")


def test_every_entry_names_its_source():
    for name, entry in TARGET.packages.items():
        assert entry["source"].startswith("https://"), name


def test_the_table_has_what_the_spec_asks_for():
    spec = SPEC["targets"]["2.0"]
    expected = set(spec["companions"]) | set(spec["cuda_wheels"]) | set(spec["source_builds"]) | \
        set(spec["python_markers"]) | set(spec["dependents"])
    assert set(TARGET.packages) == expected
    for field in ("torch", "python", "cuda", "constraints"):
        assert TARGET.data[field] == spec[field]


def test_companions_require_the_target_torch_by_their_own_metadata():
    for name, entry in TARGET.by_rule("TP001").items():
        assert SpecifierSet(entry["requires_torch"]).contains(TARGET.torch), name
        assert f"Requires-Dist: torch{entry['requires_torch']}" in entry["source"]
        assert entry["upstream"] and not SpecifierSet(entry["upstream"]["requires_torch"]).contains(TARGET.torch)


def test_dependents_record_the_first_release_needing_a_newer_torch():
    lightning = TARGET.entry("lightning")
    assert lightning["first_needing_newer_torch"] == "2.4.0"
    assert not SpecifierSet(lightning["its_requires_torch"]).contains(TARGET.torch)


def test_bpy_marker_from_its_wheel_tags():
    assert TARGET.entry("bpy")["pythons"] == ["3.11"] and TARGET.entry("bpy")["marker"] == 'python_version == "3.11"'


def test_verify_requirements_come_from_the_table(tmp_path):
    pins = all_requirements("2.0.0")[:3]
    assert pins == ["torch==2.0.0", "torchvision==0.15.1", "numpy<2"]
    assert set(pins) <= set(TARGET.constraints)
    assert not any(r.startswith("xformers") for r in all_requirements("2.0.0", tmp_path))
    (tmp_path / "attn.py").write_text("import torch\nfrom xformers.ops import memory_efficient_attention\n")
    assert "xformers==0.0.19" in all_requirements("2.0.0", tmp_path)
    assert not any(r.startswith("xformers") for r in all_requirements("2.13.0", tmp_path))  # no table for it


def test_rules_explains_each_pins_code_from_the_table():
    from click.testing import CliRunner

    from sam3d_codemod.cli.main import main

    for code, expected in (("TP001", "xformers: ==0.0.19; python_version < \"3.11\""), ("TP002", "spconv-cu118==2.3.8"),
                           ("TP003", "https://download.pytorch.org/whl/cu118"), ("TP004", "kaolin: built from source"),
                           ("TP005", "bpy: ==4.3.0"), ("TP100", "lightning: from 2.4.0 needs torch<4.0,>=2.1.0")):
        result = CliRunner().invoke(main, ["rules", code])
        assert result.exit_code == 0 and result.output.startswith(code + " (") and expected in result.output, result.output


def test_torch_envs_reads_the_table_without_the_tool_installed():
    # scripts/torch-envs: `PYTHONPATH=<repo> python -c 'from cli.verify_requirements import all_requirements'`
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = "import sys; from cli.verify_requirements import all_requirements; print(all_requirements(sys.argv[1])[:3])"
    proc = subprocess.run([sys.executable, "-c", code, "2.0.0"], capture_output=True, text=True, cwd="/",
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert proc.stdout.strip() == "['torch==2.0.0', 'torchvision==0.15.1', 'numpy<2']", proc.stderr
