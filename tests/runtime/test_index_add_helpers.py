"""``_torch_compat.index_add`` / ``index_add_`` (TC007's expression destinations) against native torch:
the same result where the dtypes match, the source cast where they do not (native raises)."""
import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.runtime

TEMPLATE = Path(__file__).resolve().parents[2] / "codemods" / "runtime" / "torch_compat.py"
_spec = importlib.util.spec_from_file_location("sam3d_compat_index_add_under_test", TEMPLATE)
tc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tc)

IDX = torch.tensor([0, 2, 2])


def test_functional_same_as_native():
    src = torch.randn(3, 2)
    want = torch.index_add(torch.zeros(4, 2), 0, IDX, src, alpha=0.5)
    got = tc.index_add(torch.zeros(4, 2), 0, IDX, src, alpha=0.5)
    assert got.dtype == want.dtype and torch.equal(got, want)


def test_in_place_returns_the_destination():
    dest = torch.zeros(4, 2)
    src = torch.randn(3, 2)
    out = tc.index_add_(dest, 0, IDX, src)
    assert out is dest
    assert torch.equal(dest, torch.zeros(4, 2).index_add_(0, IDX, src))


def test_mismatched_dtype_cast_where_native_raises():
    src = torch.randn(3, 2).half()
    with pytest.raises(RuntimeError):
        torch.zeros(4, 2).index_add_(0, IDX, src)
    got = tc.index_add_(torch.zeros(4, 2), 0, IDX, src)
    assert got.dtype == torch.float32
    assert torch.equal(got, torch.zeros(4, 2).index_add_(0, IDX, src.float()))
