"""TC015's settled gates: a version test evaluated on every supported release string."""
import ast

import pytest

from sam3d_codemod.codemods.engine.prefilter import build_index
from sam3d_codemod.codemods.rules._gate_eval import releases, settled

MODULE = '''import torch
import os
from packaging import version
from distutils.version import LooseVersion
TORCH_MAJOR, TORCH_MINOR = map(int, torch.__version__.split(".")[:2])
HAVE_21 = (TORCH_MAJOR > 2) or (TORCH_MAJOR == 2 and TORCH_MINOR >= 1)
IS_2 = TORCH_MAJOR >= 2
'''
TREE = ast.parse(MODULE)
INDEX = build_index(MODULE, TREE)
RELEASES = releases(["2.0", "2.1", "2.9", "2.10", "2.13"], "2.0")


@pytest.mark.parametrize("test,value", [
    ('torch.__version__ >= "2.0"', True),
    ('torch.__version__ >= (2, 0)', True),
    ('torch.__version__ < "2.0"', False),
    ('version.parse(torch.__version__) >= version.parse("1.13")', True),
    ('LooseVersion(torch.__version__) < LooseVersion("2.0")', False),
    ('tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 0)', True),
    ("IS_2", True),
    ("not IS_2", False),
    ("TORCH_MAJOR < 2", False),
    # TorchVersion compares numerically: "2.10.0" >= "2.4" (a plain str would say no)
    ('torch.__version__ >= "2.4"', None),
    ("HAVE_21", None),
    ('torch.__version__.startswith("2.")', None),  # false on the next major
    ('torch.__version__ < "3.0"', None),
    ('torch.__version__ >= "2.14"', None),  # true only on a release the tool does not know yet
    ('os.environ.get("X") or torch.__version__ >= "2.0"', None),  # not a pure version test
    ('torch.__version__.__class__.__mro__', None),  # dunder: never evaluated
])
def test_settled(test, value):
    assert settled(INDEX, ast.parse(test, mode="eval").body, INDEX.version_flag_defs, RELEASES) is value


def test_releases_reach_past_the_newest():
    found = releases(["2.0", "2.1", "2.13"], "2.1")
    assert "2.0.0" not in found and "2.1.0" in found and "2.14.0" in found and "3.0.0" in found


def test_numeric_not_lexicographic():
    # from a 2.9 target `>= "2.9"` holds on 2.9, 2.10, 2.11 and 3.0 (as str, "2.10.0" < "2.9")
    assert settled(INDEX, ast.parse('torch.__version__ >= "2.9"', mode="eval").body, [], releases(["2.9", "2.10"], "2.9")) is True
