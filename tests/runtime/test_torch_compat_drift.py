"""Differential tests of the drift helpers (issue 16: TC020 ``load``, TC021 ``GradScaler``,
TC022 ``RMSNorm``/``rms_norm``, TC006 rank-zero helpers and decorator placeholders) against native
torch.

On a torch with the native API (2.13) each helper is compared with native on its native branch and,
with ``FORCE_FALLBACK``, on its torch-2.0 branch; on torch 2.0 the fallback runs for real and is
compared with a reference written from the native definition.

    <env>/bin/python -m pytest -m runtime tests/runtime/test_torch_compat_drift.py -q
"""
import importlib.util
import inspect
import io
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.runtime, pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight")]

TEMPLATE = Path(__file__).resolve().parents[2] / "codemods" / "runtime" / "torch_compat.py"


def load_compat(name, force=False, monkeypatch=None):
    if force:
        monkeypatch.setenv("SAM3D_CODEMOD_FORCE_FALLBACK", "1")
    else:
        if monkeypatch is not None:
            monkeypatch.delenv("SAM3D_CODEMOD_FORCE_FALLBACK", raising=False)
    spec = importlib.util.spec_from_file_location(name, TEMPLATE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=[False, True], ids=["native-branch", "fallback-branch"])
def tc(request, monkeypatch):
    return load_compat("sam3d_compat_drift_%d" % request.param, request.param, monkeypatch)


NATIVE_LOAD_MMAP = "mmap" in inspect.signature(torch.load).parameters
NATIVE_GRADSCALER = getattr(torch.amp, "GradScaler", None)
NATIVE_RMSNORM = getattr(torch.nn, "RMSNorm", None)


# ----------------------------------------------------------------------------- load (TC020)
@pytest.fixture
def saved(tmp_path):
    obj = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "step": 7, "names": ["a", "b"]}
    path = tmp_path / "ckpt.pt"
    torch.save(obj, path)
    return path, obj


def _equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]) and a[key].dtype == b[key].dtype
        else:
            assert a[key] == b[key]


@pytest.mark.parametrize("mmap", [True, False, None])
def test_load_gives_what_plain_load_gives(tc, saved, mmap):
    path, obj = saved
    got = tc.load(str(path), map_location="cpu", mmap=mmap)
    _equal(got, obj)
    _equal(got, torch.load(str(path), map_location="cpu"))


@pytest.mark.skipif(not NATIVE_LOAD_MMAP, reason="this torch has no torch.load(mmap=)")
@pytest.mark.parametrize("mmap", [True, False])
def test_load_matches_native_mmap(tc, saved, mmap):
    path, _ = saved
    _equal(tc.load(path, map_location="cpu", mmap=mmap), torch.load(path, map_location="cpu", mmap=mmap))


@pytest.mark.skipif(NATIVE_LOAD_MMAP, reason="this torch takes mmap=; the 2.0 failure cannot happen here")
def test_native_load_rejects_mmap_where_the_helper_does_not(saved):
    path, obj = saved
    with pytest.raises(TypeError, match="mmap"):
        torch.load(path, mmap=True)
    _equal(load_compat("sam3d_compat_drift_t20").load(path, mmap=True), obj)


def test_load_mmap_with_a_file_object_raises_value_error_like_native(tc, saved):
    path, _ = saved
    with pytest.raises(ValueError, match="file path"):
        tc.load(io.BytesIO(path.read_bytes()), mmap=True)
    if NATIVE_LOAD_MMAP:
        with pytest.raises(ValueError, match="file path"):
            torch.load(io.BytesIO(path.read_bytes()), mmap=True)


def test_load_positional_and_keyword_arguments_pass_through(tc, saved):
    path, obj = saved
    _equal(tc.load(str(path), "cpu", mmap=True, weights_only=False), obj)


# ----------------------------------------------------------------------------- GradScaler (TC021)
def test_grad_scaler_is_native_class_where_native_exists(tc):
    if NATIVE_GRADSCALER is not None and not tc.FORCE_FALLBACK:
        assert tc.GradScaler is NATIVE_GRADSCALER
    else:
        assert issubclass(tc.GradScaler, torch.cuda.amp.GradScaler) and tc.GradScaler.__name__ == "GradScaler"


@pytest.mark.skipif(NATIVE_GRADSCALER is None, reason="no torch.amp.GradScaler on this torch")
def test_grad_scaler_fallback_signature_is_native(monkeypatch):
    fallback = load_compat("sam3d_compat_drift_gs", True, monkeypatch).GradScaler
    native = inspect.signature(NATIVE_GRADSCALER.__init__).parameters
    ours = inspect.signature(fallback.__init__).parameters
    assert list(ours) == list(native)
    assert [p.default for p in ours.values()] == [p.default for p in native.values()]


def _quiet_scaler(cls, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available. Disabling" / deprecations
        return cls(*args, **kwargs)


@pytest.mark.parametrize("enabled", [True, False])
def test_grad_scaler_cuda_behaves_like_native(tc, enabled):
    native_cls = NATIVE_GRADSCALER or torch.cuda.amp.GradScaler
    ours = _quiet_scaler(tc.GradScaler, "cuda", init_scale=2.0 ** 8, growth_interval=10, enabled=enabled)
    native = _quiet_scaler(native_cls, "cuda", init_scale=2.0 ** 8, growth_interval=10, enabled=enabled) \
        if NATIVE_GRADSCALER is not None else _quiet_scaler(native_cls, init_scale=2.0 ** 8, growth_interval=10, enabled=enabled)
    assert ours.is_enabled() == native.is_enabled()
    assert ours.state_dict() == native.state_dict()
    assert ours.get_scale() == native.get_scale()
    loss = torch.tensor(3.0)
    if not ours.is_enabled():
        assert ours.scale(loss) is loss and native.scale(loss) is loss


def test_grad_scaler_non_cuda_device(tc):
    disabled = _quiet_scaler(tc.GradScaler, "cpu", enabled=False)
    assert not disabled.is_enabled()
    if tc.GradScaler is NATIVE_GRADSCALER:
        assert tc.GradScaler("cpu").is_enabled()
    else:
        with pytest.raises(RuntimeError, match="needs torch >= 2.3"):
            tc.GradScaler("cpu")


def test_grad_scaler_state_dict_round_trip(tc):
    native_cls = torch.cuda.amp.GradScaler
    ours = _quiet_scaler(tc.GradScaler, enabled=False)
    ours.load_state_dict(ours.state_dict())
    assert isinstance(ours, NATIVE_GRADSCALER or native_cls)


# ----------------------------------------------------------------------------- RMSNorm (TC022)
def reference_rms_norm(x, shape, weight, eps):
    """The native definition in float64: x / sqrt(mean(x^2 over shape) + eps) * weight, eps
    defaulting to the machine epsilon of the computation dtype (float32 for 16-bit inputs)."""
    dims = tuple(range(-len(shape), 0))
    compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    if eps is None:
        eps = torch.finfo(compute).eps
    x64 = x.double()
    y = x64 / torch.sqrt(x64.pow(2).mean(dims, keepdim=True) + eps)
    y = y.to(x.dtype)
    return y if weight is None else y * weight


CASES = [
    (torch.float32, (4, 8), [8], None, True),
    (torch.float32, (2, 3, 4, 5), [4, 5], 1e-6, True),
    (torch.float64, (3, 16), [16], 1e-5, False),
    (torch.bfloat16, (4, 32), [32], None, True),
    (torch.float16, (4, 32), [32], 1e-6, False),
    (torch.float32, (5, 1), [1], None, True),  # one element: y = x / sqrt(x^2 + eps)
    (torch.float32, (4, 8), [8], None, "bfloat16"),  # weight of another dtype: promoted
]


@pytest.mark.parametrize("dtype,shape,normalized,eps,affine", CASES)
def test_rms_norm_module_matches_native_and_reference(tc, dtype, shape, normalized, eps, affine):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=dtype) * 3
    wdtype = getattr(torch, affine) if isinstance(affine, str) else dtype
    affine = bool(affine)
    ours = tc.RMSNorm(normalized, eps=eps, elementwise_affine=affine, dtype=wdtype)
    if affine:
        with torch.no_grad():
            ours.weight.copy_(torch.rand(normalized, dtype=wdtype) + 0.5)
    got = ours(x)
    assert got.dtype == (torch.promote_types(dtype, wdtype) if affine else dtype) and got.shape == x.shape
    tol = {"atol": 1e-2, "rtol": 1e-2} if dtype in (torch.float16, torch.bfloat16) else {"atol": 1e-6, "rtol": 1e-5}
    torch.testing.assert_close(got, reference_rms_norm(x, normalized, ours.weight, eps).to(got.dtype), **tol)
    if NATIVE_RMSNORM is not None:
        native = NATIVE_RMSNORM(normalized, eps=eps, elementwise_affine=affine, dtype=wdtype)
        native.load_state_dict(ours.state_dict())  # same keys and shapes
        assert list(native.state_dict()) == list(ours.state_dict())
        assert repr(native) == repr(ours)
        assert (native.normalized_shape, native.eps, native.elementwise_affine) == \
            (ours.normalized_shape, ours.eps, ours.elementwise_affine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Mismatch dtype between input and weight"
            torch.testing.assert_close(got, native(x), atol=0, rtol=0)
            torch.testing.assert_close(tc.rms_norm(x, normalized, ours.weight, eps),
                                       torch.nn.functional.rms_norm(x, normalized, ours.weight, eps), atol=0, rtol=0)


def test_rms_norm_parameters_and_state_dict(tc):
    m = tc.RMSNorm(6)
    assert [n for n, _ in m.named_parameters()] == ["weight"] and list(m.state_dict()) == ["weight"]
    assert torch.equal(m.weight, torch.ones(6)) and m.normalized_shape == (6,) and m.eps is None
    assert repr(m) == "RMSNorm((6,), eps=None, elementwise_affine=True)"
    bare = tc.RMSNorm([2, 3], eps=1e-5, elementwise_affine=False)
    assert bare.weight is None and list(bare.state_dict()) == [] and bare.normalized_shape == (2, 3)


def test_rms_norm_gradients_match_reference(tc):
    torch.manual_seed(1)
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    m = tc.RMSNorm(8, eps=1e-6, dtype=torch.float64)
    m(x).pow(2).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    reference_rms_norm(x2, [8], torch.ones(8, dtype=torch.float64), 1e-6).pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_rms_norm_wrong_shape_raises_runtime_error(tc):
    with pytest.raises(RuntimeError, match="normalized_shape"):
        tc.RMSNorm(8)(torch.randn(3, 4))


# ----------------------------------------------------------------------------- Lightning (TC006)
def test_rank_zero_only_runs_on_rank_zero_only(tc, monkeypatch):
    calls = []

    @tc.rank_zero_only
    def f(x):
        calls.append(x)
        return x * 2

    monkeypatch.setattr(tc.rank_zero_only, "rank", 0)
    assert f(3) == 6 and calls == [3] and f.__name__ == "f"
    monkeypatch.setattr(tc.rank_zero_only, "rank", 1)
    assert f(4) is None and calls == [3]
    assert tc.rank_zero_only(lambda: 1, default="skip")() == "skip"


@pytest.mark.parametrize("env,rank", [({}, 0), ({"LOCAL_RANK": "2"}, 2), ({"RANK": "1", "LOCAL_RANK": "3"}, 1),
                                      ({"SLURM_PROCID": "4"}, 4)])
def test_rank_zero_only_rank_from_environment_like_lightning(monkeypatch, env, rank):
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_compat("sam3d_compat_drift_rank").rank_zero_only.rank == rank


def test_rank_zero_info_and_warn(tc, monkeypatch, caplog):
    monkeypatch.setattr(tc.rank_zero_only, "rank", 0)
    with caplog.at_level("INFO", logger="lightning_utilities.core.rank_zero"):
        tc.rank_zero_info("hello %s", "there")
    assert "hello there" in caplog.text
    with pytest.warns(UserWarning, match="careful"):
        tc.rank_zero_warn("careful")


def test_placeholder_as_decorator_raises_only_when_called(tc):
    pl = tc.missing("pytorch-lightning", "pytorch_lightning", ImportError("No module named 'pytorch_lightning'"))

    class Model:
        @pl.utilities.rank_zero_only  # a real helper: runs
        def log(self):
            return "logged"

        @pl.utilities.rank_zero_experiment  # unknown decorator: defining works
        def experiment(self):
            return "x"

    assert Model().log() == "logged"
    with pytest.raises(RuntimeError, match=r"experiment \(decorated with pytorch_lightning.utilities.rank_zero_experiment\)"
                                           r".*pip install pytorch-lightning"):
        Model().experiment()
    with pytest.raises(RuntimeError, match="pip install pytorch-lightning"):
        pl.LightningModule()
