"""The end-to-end test's stand-ins for ``pytorch3d``, ``utils3d`` and ``moge`` (inference_e2e/standins).

Two kinds of test:

* invariants that always run (CI has none of the real packages): rotation round trips, proper
  orthonormal matrices, ``Transform3d`` chains equal to the explicit 4x4 products, inverses,
  ``recover_focal_shift`` on an exact pinhole point map, placeholders that raise with their name;
* differential tests against the real packages, run when ``SAM3D_E2E_DEPS`` names a directory
  holding the real ``pytorch3d``, ``utils3d`` and ``moge`` sources (skipped otherwise). The same
  ``compute`` function runs here on the stand-ins and, in a subprocess (this file run as a
  script), on the real packages; the inputs travel in a ``.pt`` file and so do the results.

The stand-ins are imported in-process from a fixture that puts their directory first on
``sys.path`` and, on teardown, drops every ``pytorch3d*``/``utils3d*``/``moge*`` module it added
and puts back whatever was there before.

Run inside a venv from ``scripts/torch-envs``:
    SAM3D_E2E_DEPS=/path/to/deps <env>/bin/python -m pytest inference_e2e/tests/test_standins.py -q
"""
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "inference_e2e" / "standins"
PACKAGES = ("pytorch3d", "utils3d", "moge")
DEPS_ENV = "SAM3D_E2E_DEPS"


def _ours(name):
    return name in PACKAGES or name.split(".")[0] in PACKAGES


@pytest.fixture(scope="module")
def si():
    """The stand-in modules, imported from STANDINS; sys.modules and sys.path restored afterwards."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if _ours(k)}
    sys.path.insert(0, str(STANDINS))
    try:
        import importlib

        mods = {name: importlib.import_module(name) for name in (
            "pytorch3d.transforms", "pytorch3d.renderer", "pytorch3d.structures", "pytorch3d.vis.plotly_vis",
            "utils3d", "moge.utils.geometry_torch", "moge.utils.geometry_numpy")}
        for name, mod in mods.items():
            assert str(Path(mod.__file__).resolve()).startswith(str(STANDINS.resolve())), (name, mod.__file__)
        yield types.SimpleNamespace(
            T=mods["pytorch3d.transforms"], renderer=mods["pytorch3d.renderer"], structures=mods["pytorch3d.structures"],
            plotly_vis=mods["pytorch3d.vis.plotly_vis"], utils3d=mods["utils3d"],
            gt=mods["moge.utils.geometry_torch"], gn=mods["moge.utils.geometry_numpy"])
    finally:
        sys.path.remove(str(STANDINS))
        for k in [k for k in sys.modules if _ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


# -- inputs and the shared computation --------------------------------------------------------

def pinhole_map(height=96, width=128, focal=1.3, shift=0.7, bump=True):
    """A smooth surface (tilted plane + gaussian bump) seen by a centred pinhole camera.

    ``focal`` is relative to half the image diagonal (MoGe's convention); the returned points are
    camera-space points minus ``shift`` along z, so ``recover_focal_shift`` should give back
    ``(focal, shift)``.
    """
    aspect = width / height
    diag = math.sqrt(1 + aspect ** 2)
    su, sv = aspect / diag, 1 / diag
    u = torch.linspace(-su * (width - 1) / width, su * (width - 1) / width, width, dtype=torch.float64)
    v = torch.linspace(-sv * (height - 1) / height, sv * (height - 1) / height, height, dtype=torch.float64)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    depth = 3.0 + 0.6 * uu - 0.4 * vv
    if bump:
        depth = depth - 0.5 * torch.exp(-(uu ** 2 + vv ** 2) / 0.08)
    points = torch.stack([uu * depth / focal, vv * depth / focal, depth - shift], dim=-1)
    return points.float()


def make_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)

    def rnd(*s):
        return torch.randn(*s, generator=g)

    q = rnd(6, 4)
    q[0] = torch.tensor([1.0, 0, 0, 0])                 # identity
    q[1] = torch.tensor([1e-3, 1.0, 0.2, -0.1])         # near 180 degrees (w ~ 0)
    q[2] = torch.tensor([-0.3, 0.1, 0.9, 0.2])          # w < 0
    aa = rnd(6, 3)
    aa[0] = 0.0
    aa[1] = torch.tensor([1e-8, 0, 0])
    points = pinhole_map()
    mask = torch.rand(points.shape[:2], generator=g) > 0.15
    points[~mask & (torch.rand(points.shape[:2], generator=g) > 0.5)] = float("nan")
    points[5, 7] = float("inf")
    points[6, 9] = float("-inf")
    mask[5, 7] = mask[6, 9] = False
    return {
        "q": q, "q2": rnd(6, 4), "aa": aa, "d6": rnd(6, 6),
        "s4": rnd(4, 3).abs() + 0.5, "s1": rnd(1, 3).abs() + 0.5, "sN": rnd(4).abs() + 0.5,
        "t4": rnd(4, 3), "t1": rnd(1, 3), "pts4": rnd(4, 10, 3), "pts": rnd(10, 3), "nrm": rnd(10, 3),
        "M": rnd(4, 4, 4), "ang": rnd(4) * 90,
        "dist": rnd(3).abs() + 1, "elev": rnd(3) * 30, "azim": rnd(3) * 90, "eye": rnd(3, 3) * 3,
        "depth": rnd(2, 6, 8).abs() + 1, "fov": rnd(3).abs() * 0.5 + 0.5, "uvq": torch.rand(2, 5, 2, generator=g),
        "dq": rnd(2, 5).abs() + 1,
        "pm": points, "pm_mask": mask,
        "pm2": torch.stack([pinhole_map(focal=0.9, shift=-0.4), pinhole_map(focal=2.0, shift=1.5, bump=False)]),
    }


def _utils3d_api(u3d):
    """The 0.0.x utils3d API (the stand-in's, and what MoGe / SAM 3D call) or the 1.x equivalents."""
    t, n = u3d.torch, u3d.numpy
    if hasattr(t, "depth_to_points"):
        return dict(
            uv=lambda h, w: t.image_uv(height=h, width=w), uv_np=lambda h, w: n.image_uv(height=h, width=w),
            focal_center=t.intrinsics_from_focal_center, fov_xy=t.intrinsics_from_fov_xy, focal_center_np=n.intrinsics_from_focal_center,
            depth_to_points=t.depth_to_points, look_at=t.extrinsics_look_at,
            unproject=lambda uv, d, K, E: t.unproject_cv(uv, d, extrinsics=E, intrinsics=K))
    return dict(
        uv=lambda h, w: t.uv_map(h, w), uv_np=lambda h, w: n.uv_map(h, w),
        focal_center=t.intrinsics_from_focal_center, fov_xy=lambda x, y: t.intrinsics_from_fov(fov_x=x, fov_y=y),
        focal_center_np=n.intrinsics_from_focal_center,
        depth_to_points=t.depth_map_to_point_map, look_at=t.extrinsics_look_at,
        unproject=lambda uv, d, K, E: t.unproject_cv(uv, d, intrinsics=K, extrinsics=E))


def compute(T, renderer, u3d, gt, gn, x):
    """Every checked output, by name, from one implementation of the three packages."""
    o = {}
    R = T.quaternion_to_matrix(x["q"])
    o["q2m"] = R
    o["m2q"] = T.matrix_to_quaternion(R)
    o["m2q_rand"] = T.matrix_to_quaternion(T.quaternion_to_matrix(x["q2"]))
    o["qmul"] = T.quaternion_multiply(x["q"], x["q2"])
    o["qrawmul"] = T.quaternion_raw_multiply(x["q"], x["q2"])
    o["qinv"] = T.quaternion_invert(x["q"])
    o["qstd"] = T.standardize_quaternion(x["q"])
    o["aa2q"] = T.axis_angle_to_quaternion(x["aa"])
    o["q2aa"] = T.quaternion_to_axis_angle(x["q2"])
    o["q2aa_std"] = T.quaternion_to_axis_angle(T.standardize_quaternion(x["q"]))
    o["aa2m"] = T.axis_angle_to_matrix(x["aa"])
    o["m26d"] = T.matrix_to_rotation_6d(R)
    o["6d2m"] = T.rotation_6d_to_matrix(x["d6"])
    R4 = T.quaternion_to_matrix(x["q2"][:4])
    chain = T.Transform3d().scale(x["s4"]).rotate(R4).translate(x["t4"])
    o["chain"] = chain.get_matrix()
    o["chain_inv"] = chain.inverse().get_matrix()
    o["chain_inv_composed"] = chain.inverse(invert_composed=True).get_matrix()
    o["chain_pts4"] = chain.transform_points(x["pts4"])
    o["chain_pts"] = chain.transform_points(x["pts"])
    o["chain_nrm"] = chain.transform_normals(x["nrm"])
    o["chain_inv_pts"] = chain.inverse().transform_points(chain.transform_points(x["pts4"]))
    bcast = T.Transform3d().scale(x["s1"]).rotate(R4).translate(x["t1"])   # N=1 against N=4
    o["bcast"] = bcast.get_matrix()
    o["bcast_inv"] = bcast.inverse().get_matrix()
    o["bcast_pts"] = bcast.transform_points(x["pts"])
    one = T.Transform3d().scale(x["s1"]).translate(x["t1"])
    o["one_pts"] = one.transform_points(x["pts"])
    o["compose"] = chain.compose(bcast, one).get_matrix()
    o["compose_inv"] = chain.compose(bcast.inverse()).inverse().get_matrix()
    o["scale_scalar"] = T.Transform3d().scale(2.5).get_matrix()
    o["scale_N"] = T.Scale(x["sN"]).get_matrix()
    o["scale_xyz"] = T.Scale(1.0, 2.0, x["sN"]).inverse().get_matrix()
    o["translate_xyz"] = T.Translate(1.0, x["sN"], -2.0).inverse().get_matrix()
    o["rotate_single"] = T.Rotate(R4[0]).inverse().get_matrix()
    o["rotate_axis"] = T.Transform3d().rotate_axis_angle(x["ang"], axis="Y").get_matrix()
    o["matrix"] = T.Transform3d(matrix=x["M"]).compose(T.Translate(x["t1"])).get_matrix()
    o["matrix_inv"] = T.Transform3d(matrix=x["M"][0]).inverse().get_matrix()
    o["getitem"] = chain[1].get_matrix()
    o["getitem_list"] = chain[[0, 2]].get_matrix()
    o["clone"] = chain.clone().get_matrix()
    o["to64"] = chain.to("cpu", dtype=torch.float64).inverse().get_matrix()
    o["stack"] = one.stack(chain).get_matrix()
    o["len"] = torch.tensor([len(chain), len(one)])
    rt = renderer.look_at_view_transform(eye=np.array([[0, 0, -1]]), at=np.array([[0, 0, 0]]), up=np.array([[0, -1, 0]]), device="cpu")
    o["lookat_np_R"], o["lookat_np_T"] = rt
    o["lookat_sph_R"], o["lookat_sph_T"] = renderer.look_at_view_transform(x["dist"], x["elev"], x["azim"])
    o["lookat_rad_R"], o["lookat_rad_T"] = renderer.look_at_view_transform(2.0, 0.3, x["azim"] / 90, degrees=False, at=((0.1, 0.2, 0.3),))
    o["lookat_eye_R"], o["lookat_eye_T"] = renderer.look_at_view_transform(eye=x["eye"], up=np.array([[0.0, 0.0, 1.0]]))
    o["lookat_degenerate"] = renderer.look_at_rotation(((0.0, 2.0, 0.0),))   # up parallel to the view direction
    o["lookat_rot"] = renderer.look_at_rotation(x["eye"], at=torch.zeros(1, 3), up=((0, 1, 0),))
    o["campos"] = renderer.camera_position_from_spherical_angles(x["dist"], x["elev"], x["azim"])
    o["campos_rad"] = renderer.camera_position_from_spherical_angles(2.0, 0.5, x["azim"] / 90, degrees=False)
    api = _utils3d_api(u3d)
    o["u3d_uv"] = api["uv"](5, 7)
    o["u3d_uv_np"] = torch.from_numpy(np.asarray(api["uv_np"](5, 7)))
    fx = 0.5 / torch.tan(x["fov"] / 2)
    o["u3d_K"] = api["focal_center"](fx, fx * 1.2, 0.5, 0.5)
    o["u3d_K_np"] = torch.from_numpy(np.asarray(api["focal_center_np"](fx.numpy().astype(np.float64), 1.5, 0.5, 0.25)))
    o["u3d_K_fov"] = api["fov_xy"](x["fov"], x["fov"] * 0.8)
    K2 = o["u3d_K"][:2]
    o["u3d_depth_to_points"] = api["depth_to_points"](x["depth"], intrinsics=K2)
    E = api["look_at"](x["eye"][:2], torch.zeros(2, 3), torch.tensor([[0.0, 0.0, 1.0]]).expand(2, 3))
    o["u3d_look_at"] = E
    o["u3d_look_at_single"] = api["look_at"](x["eye"][0], torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
    o["u3d_unproject"] = api["unproject"](x["uvq"], x["dq"], K2, E)
    o["u3d_unproject_cam"] = api["unproject"](x["uvq"], x["dq"], K2, None)
    o["moge_uv"] = gt.normalized_view_plane_uv(7, 5)
    o["moge_uv_ar"] = gt.normalized_view_plane_uv(8, 6, aspect_ratio=1.5, dtype=torch.float64)
    pm, mask = x["pm"][None], x["pm_mask"][None]
    o["moge_fs_mask"] = torch.stack(gt.recover_focal_shift(pm, mask))
    o["moge_fs_given"] = torch.stack(gt.recover_focal_shift(pm, mask, focal=torch.tensor([1.25])))
    o["moge_fs_batch"] = torch.stack(gt.recover_focal_shift(x["pm2"]))
    o["moge_fs_batch_given"] = torch.stack(gt.recover_focal_shift(x["pm2"], focal=torch.tensor([0.8, 2.1])))
    o["moge_fs_unbatched"] = torch.stack(gt.recover_focal_shift(x["pm2"][1], downsample_size=(32, 32)))
    uv_lr = gt.normalized_view_plane_uv(128, 96)[::3, ::4].numpy()
    xyz_lr = x["pm2"][0][::3, ::4].numpy()
    shift, focal = gn.solve_optimal_focal_shift(uv_lr, xyz_lr)
    o["moge_np_focal_shift"] = torch.tensor([float(shift), float(focal)])
    o["moge_np_shift"] = torch.tensor([float(gn.solve_optimal_shift(uv_lr, xyz_lr, 1.1))])
    return {k: (v if torch.is_tensor(v) else torch.as_tensor(v)) for k, v in o.items()}


# -- the real packages, in a subprocess ---------------------------------------------------------

def _import_real(deps):
    """The real packages from ``deps``; pytorch3d's missing compiled ``_C`` is an inert module."""
    sys.path.insert(0, str(deps))
    import importlib

    import pytorch3d

    try:
        importlib.import_module("pytorch3d._C")
    except ImportError:
        class _NoKernels(types.ModuleType):
            def __getattr__(self, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                return 0     # only read at import time (constants); never called in these tests

        sys.modules["pytorch3d._C"] = pytorch3d._C = _NoKernels("pytorch3d._C")
    mods = [importlib.import_module(m) for m in (
        "pytorch3d.transforms", "pytorch3d.renderer", "utils3d", "moge.utils.geometry_torch", "moge.utils.geometry_numpy")]
    for m in mods:
        assert str(Path(m.__file__).resolve()).startswith(str(Path(deps).resolve())), m.__file__
    return mods


def _main(argv):
    deps, inputs, out = argv
    T, renderer, u3d, gt, gn = _import_real(deps)
    torch.save(compute(T, renderer, u3d, gt, gn, torch.load(inputs)), out)


@pytest.fixture(scope="module")
def real_outputs(tmp_path_factory):
    deps = os.environ.get(DEPS_ENV)
    if not deps:
        pytest.skip("%s is not set: no real pytorch3d/utils3d/moge sources to compare against" % DEPS_ENV)
    missing = [p for p in PACKAGES if not (Path(deps) / p / "__init__.py").is_file()]
    if missing:
        pytest.skip("%s=%s lacks %s" % (DEPS_ENV, deps, ", ".join(missing)))
    tmp = tmp_path_factory.mktemp("e2e_standins")
    torch.save(make_inputs(), tmp / "inputs.pt")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, __file__, deps, str(tmp / "inputs.pt"), str(tmp / "real.pt")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp))
    assert proc.returncode == 0, "the real packages failed:\n" + proc.stderr[-4000:]
    return torch.load(tmp / "real.pt")


@pytest.fixture(scope="module")
def standin_outputs(si):
    return compute(si.T, si.renderer, si.utils3d, si.gt, si.gn, make_inputs())


def _rel_err(a, b):
    a, b = a.double(), b.double()
    finite = torch.isfinite(b)
    assert torch.equal(torch.isfinite(a), finite)
    if not finite.any():
        return 0.0
    return ((a - b)[finite].abs().max() / b[finite].abs().max().clamp_min(1e-12)).item()


TOLERANCE = {"moge_": 1e-4}     # least-squares solutions; everything else is closed-form


GROUPS = {
    "renderer": lambda k: k.startswith(("lookat", "campos")),
    "utils3d": lambda k: k.startswith("u3d_"),
    "moge": lambda k: k.startswith("moge_"),
}
GROUPS["transforms"] = lambda k: not any(f(k) for f in list(GROUPS.values())[:3])


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_differential_against_real(group, real_outputs, standin_outputs):
    assert sorted(real_outputs) == sorted(standin_outputs)
    worst = {}
    for name in sorted(k for k in real_outputs if GROUPS[group](k)):
        a, b = standin_outputs[name], real_outputs[name]
        assert a.shape == b.shape, (name, a.shape, b.shape)
        assert a.dtype == b.dtype, (name, a.dtype, b.dtype)
        worst[name] = _rel_err(a, b)
    assert worst
    print("%s: largest relative differences %s" % (group, {k: "%.1e" % v for k, v in sorted(worst.items(), key=lambda kv: -kv[1])[:5]}))
    bad = {k: v for k, v in worst.items() if v > next((t for p, t in TOLERANCE.items() if k.startswith(p)), 1e-5)}
    assert not bad, bad


# -- invariants (always run) --------------------------------------------------------------------

def _random_rotations(T, n=64, seed=1):
    q = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return q, T.quaternion_to_matrix(q)


def test_quaternion_matrix_round_trip(si):
    T = si.T
    q, R = _random_rotations(T)
    q_unit = T.standardize_quaternion(q / q.norm(dim=-1, keepdim=True))
    assert torch.allclose(T.matrix_to_quaternion(R), q_unit, atol=1e-10)
    assert torch.allclose(T.quaternion_to_matrix(T.matrix_to_quaternion(R)), R, atol=1e-10)
    aa = T.quaternion_to_axis_angle(q_unit)
    assert torch.allclose(T.axis_angle_to_matrix(aa), R, atol=1e-10)
    assert torch.allclose(T.rotation_6d_to_matrix(T.matrix_to_rotation_6d(R)), R, atol=1e-10)
    # the product of quaternions is the product of matrices; the inverse is the transpose
    q2, R2 = _random_rotations(T, seed=2)
    assert torch.allclose(T.quaternion_to_matrix(T.quaternion_multiply(q, q2)), R @ R2, atol=1e-10)
    assert torch.allclose(T.quaternion_to_matrix(T.quaternion_invert(q)), R.transpose(1, 2), atol=1e-10)
    assert (T.quaternion_multiply(q, q2)[:, 0] >= 0).all()


def test_rotations_are_proper_orthonormal(si):
    T = si.T
    d6 = torch.randn(64, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    aa = torch.randn(64, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for R in (_random_rotations(T)[1], T.rotation_6d_to_matrix(d6), T.axis_angle_to_matrix(aa)):
        assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=R.dtype).expand_as(R), atol=1e-10)
        assert torch.allclose(torch.det(R), torch.ones(len(R), dtype=R.dtype), atol=1e-10)
    # axis-angle: rotating the axis leaves it fixed; angle |aa| about it (right-handed)
    R = T.axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)
    assert torch.equal(T.axis_angle_to_quaternion(torch.zeros(3)), torch.tensor([1.0, 0, 0, 0]))


def _explicit(scale, R, t):
    """Row-vector 4x4 matrices of scale, rotation, translation (p -> [p, 1] @ M)."""
    n = max(len(scale), len(R), len(t))
    S = torch.diag_embed(torch.cat([scale, torch.ones(len(scale), 1, dtype=scale.dtype)], 1)).expand(n, 4, 4)
    Rm = torch.eye(4, dtype=R.dtype).repeat(len(R), 1, 1)
    Rm[:, :3, :3] = R
    Tm = torch.eye(4, dtype=t.dtype).repeat(len(t), 1, 1)
    Tm[:, 3, :3] = t
    return S @ Rm.expand(n, 4, 4) @ Tm.expand(n, 4, 4)


@pytest.mark.parametrize("n_scale,n_rot,n_trans", [(4, 4, 4), (1, 4, 1), (4, 1, 1), (1, 1, 1)])
def test_transform3d_chain_is_the_explicit_product(si, n_scale, n_rot, n_trans):
    T = si.T
    g = torch.Generator().manual_seed(5)
    s = torch.rand(n_scale, 3, generator=g, dtype=torch.float64) + 0.5
    R = _random_rotations(T, n_rot, seed=6)[1]
    t = torch.randn(n_trans, 3, generator=g, dtype=torch.float64)
    tf = T.Transform3d(dtype=torch.float64).scale(s).rotate(R).translate(t)
    M = _explicit(s, R, t)
    assert torch.allclose(tf.get_matrix(), M, atol=1e-12)
    assert len(tf) == len(M)
    pts = torch.randn(len(M), 7, 3, generator=g, dtype=torch.float64)
    expected = ((pts * s[:, None]) @ R + t[:, None])
    assert torch.allclose(tf.transform_points(pts), expected, atol=1e-12)
    # inverse: both the link-by-link and the composed one; composing with it gives the identity
    eye = torch.eye(4, dtype=torch.float64).expand_as(M)
    for inv in (tf.inverse(), tf.inverse(invert_composed=True)):
        assert torch.allclose(tf.compose(inv).get_matrix(), eye, atol=1e-10)
        assert torch.allclose(inv.compose(tf).get_matrix(), eye, atol=1e-10)
        assert torch.allclose(inv.transform_points(tf.transform_points(pts)), pts, atol=1e-10)
    # compose applies left to right, like the chained methods
    parts = T.Scale(s, dtype=torch.float64).compose(T.Rotate(R, dtype=torch.float64), T.Translate(t, dtype=torch.float64))
    assert torch.allclose(parts.get_matrix(), M, atol=1e-12)


def test_transform3d_details(si):
    T = si.T
    tf = T.Transform3d().translate(1.0, 2.0, 3.0)
    assert torch.equal(tf.transform_points(torch.zeros(2, 3)), torch.tensor([[1.0, 2, 3], [1, 2, 3]]))
    assert torch.equal(T.Scale(2.0).get_matrix(), torch.diag(torch.tensor([2.0, 2, 2, 1]))[None])
    assert T.Scale(torch.tensor([1.0, 2.0, 3.0])).get_matrix().shape == (3, 4, 4)
    assert T.Translate(torch.zeros(5, 3)).get_matrix().shape == (5, 4, 4)
    with pytest.raises(ValueError):
        T.Transform3d().scale(torch.ones(2, 3)).translate(torch.ones(3, 3)).get_matrix()
    with pytest.raises(ValueError):
        T.Transform3d().compose(torch.eye(4))
    d = tf.to("cpu", dtype=torch.float64)
    assert d.dtype == torch.float64 and d.get_matrix().dtype == torch.float64 and tf.dtype == torch.float32
    assert tf.to("cpu") is tf and tf.to("cpu", copy=True) is not tf
    assert isinstance(tf.device, torch.device)
    m = torch.randn(3, 4, 4)
    assert torch.equal(T.Transform3d(matrix=m).get_matrix(), m)
    assert torch.equal(T.Transform3d(matrix=m)[1].get_matrix(), m[1:2])
    c = tf.clone()
    c._matrix += 1
    assert not torch.equal(c.get_matrix(), tf.get_matrix())


def test_look_at_view_transform(si):
    r = si.renderer
    R, T = r.look_at_view_transform(eye=np.array([[0, 0, -1]]), at=np.array([[0, 0, 0]]), up=np.array([[0, -1, 0]]), device="cpu")
    assert R.dtype == torch.float32 and R.shape == (1, 3, 3) and T.shape == (1, 3)
    assert torch.allclose(R, torch.diag(torch.tensor([-1.0, -1.0, 1.0]))[None])
    assert torch.allclose(T, torch.tensor([[0.0, 0.0, 1.0]]))
    # a camera on the sphere: the eye maps to the view origin, the target onto the +z axis
    R, T = r.look_at_view_transform(dist=torch.tensor([2.0, 3.0]), elev=30.0, azim=torch.tensor([10.0, 200.0]))
    C = r.camera_position_from_spherical_angles(torch.tensor([2.0, 3.0]), 30.0, torch.tensor([10.0, 200.0]))
    assert torch.allclose(C.norm(dim=1), torch.tensor([2.0, 3.0]))
    assert torch.allclose((C[:, None] @ R)[:, 0] + T, torch.zeros(2, 3), atol=1e-6)
    view_target = T
    assert torch.allclose(view_target[:, :2], torch.zeros(2, 2), atol=1e-6) and (view_target[:, 2] > 0).all()
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)


def test_utils3d(si):
    t, n = si.utils3d.torch, si.utils3d.numpy
    assert si.utils3d.pt is t and si.utils3d.np is n
    uv = t.image_uv(height=2, width=4)
    assert torch.allclose(uv[0, :, 0], torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert torch.allclose(uv[:, 0, 1], torch.tensor([0.25, 0.75]))
    assert np.allclose(n.image_uv(height=2, width=4), uv.numpy())
    K = t.intrinsics_from_focal_center(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.5]), 0.5, 0.5)
    assert K.shape == (2, 3, 3) and torch.equal(K[1], torch.tensor([[2.0, 0, 0.5], [0, 2.5, 0.5], [0, 0, 1]]))
    K1 = t.intrinsics_from_fov_xy(torch.tensor(math.pi / 2), torch.tensor(math.pi / 2))
    assert torch.allclose(K1, torch.tensor([[0.5, 0, 0.5], [0, 0.5, 0.5], [0, 0, 1]]))
    depth = torch.rand(2, 3, 4) + 1
    pts = t.depth_to_points(depth, intrinsics=K)
    assert pts.shape == (2, 3, 4, 3) and torch.allclose(pts[..., 2], depth)
    proj = (pts / pts[..., 2:]) @ K[:, None].transpose(-1, -2)       # back to uv
    assert torch.allclose(proj[..., :2], t.image_uv(height=3, width=4).expand(2, 3, 4, 2), atol=1e-6)
    E = t.extrinsics_look_at(torch.tensor([0.0, -2.0, 0.0]), torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
    cam = E @ torch.tensor([0.0, 0.0, 0.0, 1.0])
    assert torch.allclose(cam, torch.tensor([0.0, 0.0, 2.0, 1.0]), atol=1e-6)   # the target is 2 ahead on +z
    up_cam = E[:3, :3] @ torch.tensor([0.0, 0.0, 1.0])
    assert torch.allclose(up_cam, torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)    # world up is image -y


@pytest.mark.parametrize("focal,shift", [(1.3, 0.7), (0.6, -1.2), (2.5, 1.5)])
def test_recover_focal_shift_exact_pinhole(si, focal, shift):
    pm = pinhole_map(focal=focal, shift=shift)
    f, s = si.gt.recover_focal_shift(pm)
    assert f.shape == () and s.shape == ()
    assert abs(f.item() - focal) < 1e-3 * focal and abs(s.item() - shift) < 1e-3 * max(1.0, abs(shift))
    # with invalid points (masked; NaN / inf among them) and a batch dimension
    x = make_inputs()
    mask = x["pm_mask"]
    pm = pm.clone()
    pm[~mask] = float("nan")
    pm[0, 0] = float("inf")
    mask[0, 0] = False
    f, s = si.gt.recover_focal_shift(pm[None], mask[None])
    assert f.shape == (1,) and abs(f.item() - focal) < 1e-3 * focal and abs(s.item() - shift) < 1e-3 * max(1.0, abs(shift))
    f2, s2 = si.gt.recover_focal_shift(pm[None], mask[None], focal=torch.tensor([focal]))
    assert f2.item() == pytest.approx(focal) and abs(s2.item() - shift) < 1e-3 * max(1.0, abs(shift))
    empty = si.gt.recover_focal_shift(pm[None], torch.zeros_like(mask)[None])
    assert [v.item() for v in empty] == [1.0, 0.0]


def test_normalized_view_plane_uv(si):
    uv = si.gt.normalized_view_plane_uv(4, 3)
    assert uv.shape == (3, 4, 2)
    # pixel corners span the view plane whose half diagonal is 1
    corner = uv[-1, -1] + (uv[-1, -1] - uv[-2, -2]) / 2
    assert torch.allclose(corner.norm(), torch.tensor(1.0))
    assert torch.allclose(uv.mean(dim=(0, 1)), torch.zeros(2), atol=1e-6)


def test_placeholders_raise_with_their_name(si):
    Meshes = si.structures.Meshes
    with pytest.raises(RuntimeError, match=r"^stand-in: pytorch3d\.structures\.Meshes needs the real pytorch3d "
                                           r"\(compiled kernels\); not available here$"):
        Meshes(verts=[], faces=[])

    class Sub(Meshes):
        pass

    with pytest.raises(RuntimeError, match=r"pytorch3d\.structures\.Meshes"):
        Sub()
    import importlib

    for module, name in [("pytorch3d.renderer", "MeshRasterizer"), ("pytorch3d.renderer.cameras", "PerspectiveCameras"),
                         ("pytorch3d.renderer.mesh", "SoftSilhouetteShader"), ("pytorch3d.renderer.mesh.textures", "TexturesVertex"),
                         ("pytorch3d.renderer.camera_utils", "camera_to_eye_at_up"), ("pytorch3d.structures", "Pointclouds"),
                         ("pytorch3d.vis", "plot_scene"), ("pytorch3d.vis.plotly_vis", "_add_camera_trace"),
                         ("pytorch3d.transforms", "se3_exp_map"), ("utils3d.numpy", "depth_edge"), ("utils3d.torch", "RastContext")]:
        obj = getattr(importlib.import_module(module), name)
        assert obj is getattr(importlib.import_module(module), name)
        with pytest.raises(RuntimeError, match=r"stand-in: %s\.%s needs the real" % (module.replace(".", r"\."), name)):
            obj()
    with pytest.raises(RuntimeError, match=r"stand-in: utils3d\.io\.write_ply needs the real utils3d"):
        si.utils3d.io.write_ply("x.ply", None)
    with pytest.raises(AttributeError):
        _ = si.structures.__wrapped__
    # built at import time by SAM 3D's plot_scene: plain named tuples here as in pytorch3d
    assert si.plotly_vis.AxisArgs(showgrid=True)._asdict()["showgrid"] is True
    assert si.plotly_vis.Lighting().ambient == 0.8


if __name__ == "__main__":
    _main(sys.argv[1:])
