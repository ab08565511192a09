"""``_torch_compat.autocast`` with the dtypes TC012 now routes (float16 on CPU, a dtype chosen by
device), against native torch: native where CPU autocast takes the dtype, a disabled autocast
(with torch's own "Disabling autocast" warning for float16) where it refuses it.

    <env>/bin/python -m pytest -m runtime tests/runtime/test_autocast_dtypes.py -q
"""
import importlib.util
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.runtime

TEMPLATE = Path(__file__).resolve().parents[2] / "codemods" / "runtime" / "torch_compat.py"
_spec = importlib.util.spec_from_file_location("sam3d_compat_autocast_under_test", TEMPLATE)
tc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tc)

A = torch.randn(4, 4)


def _native_refuses(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.autocast("cpu", dtype=dtype):
                return not torch.is_autocast_cpu_enabled() if hasattr(torch, "is_autocast_cpu_enabled") else False
        except RuntimeError:
            return True


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_cpu_dtype_runs(dtype):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with tc.autocast("cpu", dtype=dtype):
            out = A @ A
    ours = [str(w.message) for w in record if "autocast" in str(w.message).lower()]
    if _native_refuses(dtype):
        assert out.dtype == torch.float32  # disabled: full precision
        assert bool(ours) == (dtype == torch.float16)
    else:
        with torch.autocast("cpu", dtype=dtype):
            want = A @ A
        assert out.dtype == want.dtype and torch.equal(out, want)


def test_dtype_chosen_by_device():
    device = torch.device("cpu")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    with tc.autocast(device.type, dtype=dtype):
        assert (A @ A).dtype == torch.float32


def test_float16_disabled_request_no_warning():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with tc.autocast("cpu", dtype=torch.float16, enabled=False):
            assert (A @ A).dtype == torch.float32
    if _native_refuses(torch.float16):
        assert not [w for w in record if "Disabling autocast" in str(w.message)]


def test_native_float16_cpu_raises_on_2_0():
    """The failure being patched, where this torch has it."""
    if not _native_refuses(torch.float16):
        pytest.skip("this torch runs float16 CPU autocast natively")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="AutocastCPU only support Bfloat16"):
            with torch.autocast("cpu", dtype=torch.float16):
                pass


@pytest.mark.parametrize("positional", [(True, torch.float16), (False, torch.float32, True), (True, torch.float32, False)])
def test_cpu_amp_positional_arguments_as_tc012_rewrites_them(positional):
    """``torch.cpu.amp.autocast(enabled, dtype, cache_enabled)`` -> ``tc.autocast("cpu", enabled=, dtype=, ...)``:
    the same context wherever native takes the dtype, and it runs where native raises."""
    keywords = dict(zip(("enabled", "dtype", "cache_enabled"), positional))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tc.autocast("cpu", **keywords):
            out = A @ A
            ours_enabled = torch.is_autocast_cpu_enabled()
        try:
            with torch.cpu.amp.autocast(*positional):
                want = A @ A
                native_enabled = torch.is_autocast_cpu_enabled()
        except RuntimeError as exc:
            assert "AutocastCPU only support Bfloat16" in str(exc) and _native_refuses(keywords["dtype"])
            assert out.dtype == torch.float32 and not ours_enabled  # disabled instead of raising
            return
    assert out.dtype == want.dtype and torch.equal(out, want) and ours_enabled == native_enabled
