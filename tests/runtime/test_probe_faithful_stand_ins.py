"""``verify --stand-ins``: pytorch3d's rotation conversions compute (our faithful math), every
other pytorch3d name stays a placeholder, and xformers is stood in for where it is not installed.

The math is checked against invariants and against the end-to-end test's stand-ins
(``inference_e2e/standins``, the same documented behaviour), so the two cannot drift.
"""
import importlib.util
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parents[2]
PROBE_DIR = ROOT / "codemods" / "probe"
E2E = ROOT / "inference_e2e" / "standins" / "pytorch3d" / "transforms" / "rotation_conversions.py"


@pytest.fixture
def stand_ins(monkeypatch):
    monkeypatch.syspath_prepend(str(PROBE_DIR))
    import vp_stand_ins

    for name in [n for n in sys.modules if n.split(".")[0] in ("pytorch3d", "xformers")]:
        monkeypatch.delitem(sys.modules, name)
    finder = vp_stand_ins.install(vp_stand_ins.DEFAULT)
    yield vp_stand_ins
    sys.meta_path.remove(finder)
    for name in [n for n in sys.modules if n.split(".")[0] in ("pytorch3d", "xformers")]:
        del sys.modules[name]


def _e2e():
    spec = importlib.util.spec_from_file_location("_e2e_rotation_conversions", E2E)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rotation_6d_round_trip(stand_ins):
    if importlib.util.find_spec("pytorch3d") is not None and not getattr(sys.modules.get("pytorch3d"), stand_ins.MARK, True):
        pytest.skip("the real pytorch3d is installed")
    from pytorch3d.transforms import matrix_to_rotation_6d, quaternion_to_matrix, rotation_6d_to_matrix

    torch.manual_seed(0)
    R = quaternion_to_matrix(torch.randn(8, 4))
    d6 = matrix_to_rotation_6d(R)
    assert d6.shape == (8, 6)
    assert torch.allclose(rotation_6d_to_matrix(d6), R, atol=1e-5)
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand(8, 3, 3), atol=1e-5)
    assert "pytorch3d" in stand_ins.used()


def test_rotation_conversions_module_path(stand_ins):
    from pytorch3d.transforms.rotation_conversions import axis_angle_to_matrix

    R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    assert torch.allclose(R @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_euler_angles(stand_ins):
    from pytorch3d.transforms import euler_angles_to_matrix, matrix_to_euler_angles

    torch.manual_seed(1)
    for convention in ("XYZ", "ZYX", "ZXZ", "YXY"):
        angles = (torch.rand(16, 3) - 0.5) * torch.tensor([2 * math.pi, 0.98 * math.pi, 2 * math.pi])
        if convention[0] == convention[2]:
            angles[:, 1] = angles[:, 1].abs() + 0.01
        R = euler_angles_to_matrix(angles, convention)
        x, y, z = (euler_angles_to_matrix(torch.stack([a if i == k else torch.zeros_like(a) for k in range(3)], -1), "XYZ")
                   for i, a in enumerate(angles.unbind(-1)))
        if convention == "XYZ":  # first letter leftmost
            assert torch.allclose(R, x @ y @ z, atol=1e-6)
        assert torch.allclose(euler_angles_to_matrix(matrix_to_euler_angles(R, convention), convention), R, atol=1e-5)
    with pytest.raises(ValueError):
        euler_angles_to_matrix(torch.zeros(3), "XXY")


def test_same_as_the_end_to_end_stand_ins(stand_ins):
    import pytorch3d.transforms as ours

    e2e = _e2e()
    torch.manual_seed(2)
    q = torch.randn(32, 4)
    R = e2e.quaternion_to_matrix(q)
    aa = torch.randn(32, 3)
    d6 = torch.randn(32, 6)
    for name, arg in [("quaternion_to_matrix", q), ("matrix_to_quaternion", R), ("standardize_quaternion", q),
                      ("quaternion_invert", q), ("axis_angle_to_quaternion", aa), ("quaternion_to_axis_angle", q),
                      ("axis_angle_to_matrix", aa), ("matrix_to_axis_angle", R), ("rotation_6d_to_matrix", d6),
                      ("matrix_to_rotation_6d", R)]:
        assert torch.equal(getattr(ours, name)(arg), getattr(e2e, name)(arg)), name
    assert torch.equal(ours.quaternion_multiply(q, q.flip(0)), e2e.quaternion_multiply(q, q.flip(0)))
    assert torch.equal(ours.quaternion_apply(q, aa), e2e.quaternion_apply(q, aa))
    # one implementation serves both: the end-to-end stand-in takes the probe's functions
    assert e2e.quaternion_to_matrix.__code__.co_filename == ours.quaternion_to_matrix.__code__.co_filename


def test_other_pytorch3d_names_stay_placeholders(stand_ins):
    from pytorch3d.renderer import MeshRasterizer
    from pytorch3d.transforms import se3_exp_map

    for thing in (MeshRasterizer(), se3_exp_map()):
        with pytest.raises(RuntimeError, match="import stand-in"):
            thing(1)


def test_xformers_stands_in_where_missing(stand_ins):
    if importlib.util.find_spec("xformers") is not None and not getattr(sys.modules.get("xformers"), stand_ins.MARK, True):
        pytest.skip("a real xformers is installed: it wins")
    import xformers.ops as xops  # a module-level import of the attention backend no longer stops the unit

    assert "xformers" in stand_ins.used()
    with pytest.raises(RuntimeError, match="import stand-in"):
        xops.memory_efficient_attention()(1, 2, 3)  # placeholders construct, and raise when called


def test_using_what_a_stand_in_returned_raises_the_stand_in_error(stand_ins):
    """``out = xops.memory_efficient_attention(q, k, v); out[0]`` is a skip naming xformers, not a TypeError."""
    import xformers.ops as xops

    out = xops.memory_efficient_attention(1, 2, 3)
    for use in (lambda: out[0], lambda: out + 1, lambda: out @ out, lambda: out.shape, lambda: len(out), lambda: list(out)):
        with pytest.raises(RuntimeError, match="xformers.ops.memory_efficient_attention is an import stand-in"):
            use()
