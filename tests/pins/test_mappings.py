"""One test per mapping of the pins rules (codemods/pins): what each line becomes for torch 2.0 with
CUDA 11.8, the finding it gets, and that a second run changes nothing."""
import pytest

from sam3d_codemod.codemods.pins.files import rewrite_conda_env, rewrite_pyproject, rewrite_requirements
from sam3d_codemod.codemods.pins.requirement_line import disabled_requirement
from sam3d_codemod.codemods.pins.table import TableError, load_target

TARGET = load_target("2.0")
XF = 'xformers==0.0.19; python_version < "3.11"'  # PyPI has xformers 0.0.19 wheels for CPython 3.8-3.10 only


def one(line: str):
    """(new line or None, [(code, status)]) for a one-line requirements file; the rewrite is idempotent."""
    edit = rewrite_requirements(line + "\n", TARGET)
    if edit.text is not None:
        again = rewrite_requirements(edit.text, TARGET)
        assert again.text is None and all(f.status != "patched" for _, f in again.findings), edit.text
    return (edit.text[:-1] if edit.text is not None else None), [(f.code, f.status) for _, f in edit.findings]


@pytest.mark.parametrize("line, expected", [
    ("torchaudio==2.5.1+cu121", "torchaudio==2.0.1"),
    ("torchvision==0.20.1", "torchvision==0.15.1"),
    ("torch==2.5.1", "torch==2.0.0"),
    ("torch>=2.3", "torch==2.0.0"),
    ("numpy", "numpy<2"),
    ("numpy>=2", "numpy<2"),
])
def test_tp001_torch_and_companions(line, expected):
    assert one(line) == (expected, [("TP001", "patched")])


@pytest.mark.parametrize("line", ["xformers==0.0.28.post3", "xformers"])  # unpinned: the newest, for the newest torch
def test_tp001_xformers_with_the_marker_of_its_wheels(line):
    assert one(line) == (XF, [("TP001", "patched"), ("TP005", "patched")])
    assert one("xformers==0.0.19") == (XF, [("TP005", "patched")])
    assert one(XF) == (None, [])


def test_tp001_keeps_what_already_fits_and_the_rest_of_the_line():
    assert one("torch>=1.13") == (None, [])
    assert one("numpy==1.26.4") == (None, []) and one("numpy>=1.21,<3") == (None, [])
    assert one("xformers[extra] == 0.0.28.post3 ; sys_platform == 'linux'  # attention") == \
        ("xformers[extra] ==0.0.19 ; sys_platform == 'linux'  # attention", [("TP001", "patched")])  # its own marker kept


def test_tp001_message_names_the_torch_the_old_pin_needs():
    edit = rewrite_requirements("xformers==0.0.28.post3\n", TARGET)
    message = edit.findings[0][1].message
    assert "needs torch==2.5.1" in message and "Requires-Dist: torch==2.0.0" in message


@pytest.mark.parametrize("line, expected", [
    ("spconv-cu121==2.3.8", "spconv-cu118==2.3.8"),
    ("spconv-cu120", "spconv-cu118==2.3.8"),
    ("cuda-python==12.1.0", "cuda-python==11.8.*"),
    ("nvidia-cuda-nvcc-cu12==12.1.105", "nvidia-cuda-nvcc-cu11==11.8.*"),
    ("nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime-cu11==11.8.*"),
])
def test_tp002_cuda_wheels(line, expected):
    assert one(line) == (expected, [("TP002", "patched")])


def test_tp002_leaves_the_target_cuda_alone():
    for line in ("spconv-cu118==2.3.8", "cuda-python==11.8.7", "nvidia-cuda-nvcc-cu11==11.8.89", "nvidia-pyindex==1.0.9"):
        assert one(line) == (None, []), line


@pytest.mark.parametrize("line, expected", [
    ("--extra-index-url https://download.pytorch.org/whl/cu121", "--extra-index-url https://download.pytorch.org/whl/cu118"),
    ("--index-url=https://download.pytorch.org/whl/cu124", "--index-url=https://download.pytorch.org/whl/cu118"),
    ("-f https://nvidia-kaolin.s3.us-east-2.amazonaws.com/torch-2.5.1_cu121.html",
     "-f https://nvidia-kaolin.s3.us-east-2.amazonaws.com/torch-2.0.0_cu118.html"),
])
def test_tp003_wheel_indexes(line, expected):
    assert one(line) == (expected, [("TP003", "patched")])


def test_tp003_other_indexes_unchanged():
    assert one("--extra-index-url https://pypi.ngc.nvidia.com") == (None, [])


@pytest.mark.parametrize("line", [
    "kaolin==0.17.0",
    "flash_attn==2.8.3",
    "pytorch3d @ git+https://github.com/facebookresearch/pytorch3d.git@75ebeeaea0908c5527e7b1e305fbc7681382db47",
    "gsplat @ git+https://github.com/nerfstudio-project/gsplat.git@2323de5",
])
def test_tp004_source_builds_move_to_the_install_plan(line):
    new, findings = one(line)
    assert findings == [("TP004", "patched")]
    assert new.startswith("# ") and disabled_requirement(new) == line  # `env` reads it back for step 3


def test_tp005_python_marker_for_a_package_without_a_wheel_for_every_target_python():
    assert one("bpy==4.3.0") == ('bpy==4.3.0; python_version == "3.11"', [("TP005", "patched")])
    assert one("bpy==4.3.0 ; python_version >= '3.11'") == (None, [])  # its own marker is kept


def test_tp100_a_dependent_pinned_where_its_requires_dist_excludes_the_target_torch():
    assert one("lightning==2.3.3") == (None, [])
    new, findings = one("lightning==2.4.0")
    assert (new, findings) == (None, [("TP100", "unhandled")])
    message = rewrite_requirements("lightning==2.4.0\n", TARGET).findings[0][1].message
    assert "torch<4.0,>=2.1.0" in message and "lightning==2.3.3" in message


@pytest.mark.parametrize("line", ["nvidia-cublas-cu12==12.1.3.1", "cupy-cuda12x", "torch-scatter==2.1.2+pt25cu121"])
def test_tp100_a_cuda_build_without_a_table_entry(line):
    assert one(line) == (None, [("TP100", "unhandled")])


def test_crlf_comments_and_untouched_lines_keep_their_bytes():
    text = "# pins\r\nastor==0.8.1\r\nxformers==0.0.28.post3\r\n\r\nloguru  # logging\r\ntimm==0.9.16"
    edit = rewrite_requirements(text, TARGET)
    assert edit.text == text.replace("xformers==0.0.28.post3", XF)
    assert [line for line, _ in edit.findings] == [3, 3]


def test_the_main_requirements_file_gets_the_numpy_cap_once_with_its_own_line_ends():
    edit = rewrite_requirements("astor==0.8.1\r\ntimm==0.9.16", TARGET, main_file=True)
    assert edit.text == "astor==0.8.1\r\ntimm==0.9.16\r\nnumpy<2  # sam3d-codemod TP001: torch 2.0.0 is built against numpy 1\r\n"
    assert [(n, f.code) for n, f in edit.findings] == [(3, "TP001")]
    assert rewrite_requirements(edit.text, TARGET, main_file=True).text is None
    assert rewrite_requirements("numpy==1.26.4\n", TARGET, main_file=True).text is None
    assert rewrite_requirements("astor\n", TARGET).text is None  # other files: no line added


def test_enabled_codes_leave_other_rules_lines_alone():
    edit = rewrite_requirements("kaolin==0.17.0\nxformers==0.0.28.post3\nbpy==4.3.0\n", TARGET, enabled={"TP001", "TP005"})
    assert edit.text == f"kaolin==0.17.0\n{XF}\nbpy==4.3.0; python_version == \"3.11\"\n"
    assert [f.code for _, f in edit.findings] == ["TP001", "TP005", "TP005"]
    edit = rewrite_requirements("xformers==0.0.28.post3\n", TARGET, enabled={"TP001"})
    assert edit.text is None  # the TP005 half of the line is off: the line stays whole


def test_pyproject_index_and_dependency_arrays():
    text = ('[project]\nname = "x"\ndependencies = [\n    "xformers==0.0.28.post3",\n    "kaolin==0.17.0",\n'
            '    "loguru",\n]\n[project.optional-dependencies]\ndev = ["torchvision==0.20.1", "pytest"]\n'
            '[tool.other]\nkeep = ["xformers==0.0.28.post3"]\n'
            '[tool.hatch.envs.default.env-vars]\nPIP_EXTRA_INDEX_URL = "https://pypi.ngc.nvidia.com https://download.pytorch.org/whl/cu121"\n')
    edit = rewrite_pyproject(text, TARGET)
    assert edit.text == text.replace('    "xformers==0.0.28.post3"', '    "xformers==0.0.19; python_version < \'3.11\'"') \
        .replace('    "kaolin==0.17.0",', '    # "kaolin==0.17.0",  # sam3d-codemod TP004: built from source by `sam3d-codemod env`') \
        .replace("torchvision==0.20.1", "torchvision==0.15.1").replace("whl/cu121", "whl/cu118")
    assert sorted(f.code for _, f in edit.findings) == ["TP001", "TP001", "TP003", "TP004", "TP005"]
    assert rewrite_pyproject(edit.text, TARGET).text is None


def test_conda_environment_file():
    text = ("dependencies:\n  - python=3.10\n  - pytorch=2.5.1\n  - pytorch-cuda=12.1\n  - torchvision=0.20.1=py310_cu121\n"
            "  - pip\n  - pip:\n    - xformers==0.0.28.post3\n    - kaolin==0.17.0\n  - numpy\n")
    edit = rewrite_conda_env(text, TARGET)
    assert edit.text == ("dependencies:\n  - python=3.10\n  - pytorch=2.0.0\n  - pytorch-cuda=11.8\n  - torchvision=0.15.1\n"
                         f"  - pip\n  - pip:\n    - {XF}\n"
                         "    # - kaolin==0.17.0  # sam3d-codemod TP004: built from source by `sam3d-codemod env`\n  - numpy\n")
    assert rewrite_conda_env(edit.text, TARGET).text is None


def test_a_target_without_a_table_is_a_one_line_error():
    with pytest.raises(TableError, match=r"^no pin table for torch 2\.3 \(the table has: 2\.0\)$"):
        load_target("2.3")
    with pytest.raises(TableError, match="CUDA 12.1"):
        load_target("2.0", "12.1")
