"""The pins rules, declared as the code rules declare themselves (``base.Rule``, one code each), with
``kind="pins"``: the runner hands them the tree's pin files (cli/pins_files.py), never Python.

``--select``/``--ignore`` take their codes and the ``TP`` prefix like any other; TP100 is the
``check`` finding for a pin that needs a newer torch or CUDA than the target and that no rule maps.
"""
from __future__ import annotations

from typing import List

from ..base import Rule

PINS_KIND = "pins"
NEEDS_NEWER_CODE = "TP100"

PIN_RULES: List[Rule] = [
    Rule(code="TP001", name="torch-companions", kind=PINS_KIND, fixed_in=None, triggers=(),
         summary="torch, torchvision, torchaudio, xformers (pip and conda pins) set to the builds of the target torch",
         fixes="ERROR: No matching distribution found for torchaudio==2.5.1+cu121 / pip replaces torch 2.0 with 2.5.1",
         shapes=("torch/torchvision/torchaudio/xformers pins in requirements*.txt (==, ~=, >=, local +cuXXX labels)",
                 "the same in pyproject dependency lists and conda environments/*.yml",
                 "a numpy<2 cap added beside torch 2.0")),
    Rule(code="TP002", name="cuda-wheels", kind=PINS_KIND, fixed_in=None, triggers=(),
         summary="spconv-cuXXX, cuda-python and nvidia-cuda-*-cuXX set to the target CUDA's release",
         fixes="CUDA 12 wheels (spconv-cu121, cuda-python 12.1, nvidia-cuda-nvcc-cu12) beside a CUDA 11.8 torch",
         shapes=("spconv-cuXXX renamed to the target CUDA", "cuda-python==X.Y pins", "nvidia-*-cuXX wheels")),
    Rule(code="TP003", name="wheel-indexes", kind=PINS_KIND, fixed_in=None, triggers=(),
         summary="PyTorch's and kaolin's wheel index URLs set to the target torch and CUDA",
         fixes="pip pulls cu121 builds (download.pytorch.org/whl/cu121, kaolin's torch-2.5.1_cu121 index)",
         shapes=("--index-url / --extra-index-url / -f lines naming download.pytorch.org/whl/cuXXX",
                 "kaolin's torch-X_cuXXX wheel index", "the same index URLs anywhere in pyproject.toml")),
    Rule(code="TP004", name="source-builds", kind=PINS_KIND, fixed_in=None, triggers=(),
         summary="kaolin, pytorch3d, gsplat, flash-attn moved to `sam3d-codemod env`'s source builds (built against the installed torch)",
         fixes="kaolin changed PyTorch! / flash_attn 2.8.3 needs a newer torch",
         shapes=("kaolin, pytorch3d, gsplat, flash-attn pins commented out for `env`'s source builds",)),
    Rule(code="TP005", name="python-markers", kind=PINS_KIND, fixed_in=None, triggers=(),
         summary="a package with wheels for some target Pythons only gets an environment marker (bpy 4.3.0: CPython 3.11)",
         fixes="ERROR: No matching distribution found for bpy==4.3.0 (Python 3.10)",
         shapes=("a pin with wheels for some target Pythons only (bpy 4.3.0: CPython 3.11) gets a python_version marker",)),
]

NEEDS_NEWER = Rule(code=NEEDS_NEWER_CODE, name="needs-newer-torch", kind=PINS_KIND, fixed_in=None, triggers=(),
                   summary="a pin that needs a newer torch or another CUDA, and no rule maps it (check fails)",
                   fixes="pip replaces torch, or no build for the target exists",
                   shapes=("a pin that requires a newer torch than the target (from its Requires-Dist)",
                           "a CUDA build the table does not know"))

ALL_PIN_RULES: List[Rule] = PIN_RULES + [NEEDS_NEWER]
PIN_CODES = tuple(r.code for r in ALL_PIN_RULES)
