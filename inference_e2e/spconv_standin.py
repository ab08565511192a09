"""``import spconv.pytorch`` for a worker: the real spconv, else spconv-triton (CUDA), else a CPU stand-in.

spconv has no wheel for every torch/CUDA pair (and none for CPU); the pipeline's sparse convolutions
need it at import. On CUDA spconv-triton stands in (an adapter casts features to the weight dtype,
as spconv's own autocast path does); on a CPU a small pure-torch submanifold convolution does, so the
tiny-size run of the runtime tier goes through the same code. Which one ran is in the report.
"""
from __future__ import annotations

import importlib.util
import math
import sys
import types


def _cpu_spconv_module():
    """A small pure-torch stand-in for ``spconv.pytorch`` (submanifold convs only), for --device cpu."""
    import enum

    import torch
    import torch.nn as nn

    class ConvAlgo(enum.Enum):
        Native = 0
        MaskImplicitGemm = 1
        MaskSplitImplicitGemm = 2

    class SparseConvTensor:
        def __init__(self, features, indices, spatial_shape, batch_size, grid=None, voxel_num=None,
                     indice_dict=None, benchmark=False, permanent_thrust_allocator=False,
                     enable_timer=False, force_algo=None):
            self._features = features
            self.indices = indices
            self.spatial_shape = [int(v) for v in spatial_shape]
            self.batch_size = int(batch_size)
            self.indice_dict = {} if indice_dict is None else indice_dict
            self.grid = grid
            self.voxel_num = voxel_num
            self.benchmark = benchmark
            self.benchmark_record = {}
            self.thrust_allocator = None
            self._timer = None
            self.force_algo = force_algo
            self.int8_scale = None

        @property
        def features(self):
            return self._features

        @features.setter
        def features(self, value):
            raise ValueError("use replace_feature")

        def replace_feature(self, feature):
            new = SparseConvTensor(feature, self.indices, self.spatial_shape, self.batch_size, self.grid,
                                   self.voxel_num, self.indice_dict)
            return new

        def dense(self, channels_first=True):
            c = self._features.shape[1]
            out = self._features.new_zeros([self.batch_size, *self.spatial_shape, c])
            idx = self.indices.long()
            out[idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]] = self._features
            return out.permute(0, 4, 1, 2, 3).contiguous() if channels_first else out

    class SubMConv3d(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                     groups=1, bias=True, indice_key=None, algo=None, **kwargs):
            super().__init__()
            self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
            self.dilation = dilation
            # spconv 2.x layout: [out, k, k, k, in]
            self.weight = nn.Parameter(torch.empty(out_channels, kernel_size, kernel_size, kernel_size, in_channels))
            self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
            nn.init.normal_(self.weight, std=1.0 / math.sqrt(in_channels * kernel_size ** 3))

        def _neighbors(self, x):
            """Per kernel offset: (output rows, input rows) of the active neighbours; cached per coordinate set."""
            idx = x.indices.long()
            cache_key = ("cpu-subm", self.kernel_size, self.dilation, idx.shape[0], idx.data_ptr(), int(idx.sum()))
            cached = x.indice_dict.get(cache_key)
            if cached is not None:
                return cached
            r = self.kernel_size // 2
            base = idx.clone()
            base[:, 1:] += r * self.dilation  # keep every neighbour coordinate non-negative
            lim = int(base[:, 1:].max()) + r * self.dilation + 1 if idx.numel() else 1

            def key(c):
                return ((c[:, 0] * lim + c[:, 1]) * lim + c[:, 2]) * lim + c[:, 3]

            keys = key(base)
            order = torch.argsort(keys)
            sorted_keys = keys[order]
            pairs = []
            offsets = range(-r, r + 1)
            for dz in offsets:
                for dy in offsets:
                    for dx in offsets:
                        nb = base.clone()
                        nb[:, 1] += dz * self.dilation
                        nb[:, 2] += dy * self.dilation
                        nb[:, 3] += dx * self.dilation
                        nkeys = key(nb)
                        pos = torch.searchsorted(sorted_keys, nkeys).clamp(max=max(sorted_keys.numel() - 1, 0))
                        hit = sorted_keys[pos] == nkeys
                        pairs.append((hit.nonzero().squeeze(1), order[pos[hit]]))
            x.indice_dict[cache_key] = pairs
            return pairs

        def forward(self, x):
            feats = x.features
            f32 = feats.float()
            w = self.weight.float().reshape(self.out_channels, -1, self.in_channels)
            out = f32.new_zeros(feats.shape[0], self.out_channels)
            with torch.autocast(device_type=feats.device.type, enabled=False):
                for i, (rows, src) in enumerate(self._neighbors(x)):
                    if rows.numel():
                        out.index_add_(0, rows, f32[src] @ w[:, i, :].t())
            if self.bias is not None:
                out = out + self.bias.float()
            return x.replace_feature(out.to(feats.dtype))

    def _unsupported(*args, **kwargs):
        raise NotImplementedError("the CPU spconv stand-in only does submanifold convolutions")

    module = types.ModuleType("spconv.pytorch")
    module.ConvAlgo = ConvAlgo
    module.SparseConvTensor = SparseConvTensor
    module.SubMConv3d = SubMConv3d
    module.SparseConv3d = _unsupported
    module.SparseInverseConv3d = _unsupported
    return module


def _weight_dtype_convs(sptp):
    """``spconv.pytorch`` of spconv-triton, with convolutions that feed features in the weight's dtype.

    Upstream runs the SLat flow's fp16 sparse convs under bf16 autocast; after the transformer
    blocks the features are float32, and spconv-triton's inference path (eval mode) wants
    features and weights of one dtype. The cast is the one spconv's autocast path does
    (``custom_fwd(cast_inputs=float16)``); both trees get the same adapter.
    """
    module = types.ModuleType("spconv.pytorch")
    module.__dict__.update({k: v for k, v in vars(sptp).items() if not k.startswith("__")})

    def adapt(base):
        class Conv(base):
            def forward(self, input, *args, **kwargs):
                feats = input.features
                if feats.is_floating_point() and feats.dtype != self.weight.dtype:
                    input = input.replace_feature(feats.to(self.weight.dtype))
                return super().forward(input, *args, **kwargs)

        Conv.__name__ = Conv.__qualname__ = base.__name__
        return Conv

    for name in ("SubMConv3d", "SparseConv3d", "SparseInverseConv3d"):
        setattr(module, name, adapt(getattr(sptp, name)))
    return module


def install_spconv(device_type):
    """Make ``import spconv.pytorch`` work: real spconv, else spconv-triton (CUDA), else the CPU stand-in."""
    if importlib.util.find_spec("spconv") is not None:
        import spconv.pytorch  # noqa: F401
        return "spconv"
    if device_type == "cuda" and importlib.util.find_spec("spconv_triton") is not None:
        import spconv_triton
        import spconv_triton.pytorch as sptp
        adapted = _weight_dtype_convs(sptp)
        spconv_triton.pytorch = adapted
        sys.modules["spconv"] = spconv_triton
        sys.modules["spconv.pytorch"] = adapted
        return "spconv-triton %s (as spconv.pytorch; features cast to the weight dtype)" % getattr(
            spconv_triton, "__version__", "?")
    if device_type != "cpu":
        raise SystemExit("no spconv and no spconv-triton: install one (pip install spconv-triton)")
    parent = types.ModuleType("spconv")
    child = _cpu_spconv_module()
    parent.pytorch = child
    parent.__path__ = []
    sys.modules["spconv"] = parent
    sys.modules["spconv.pytorch"] = child
    return "cpu stand-in (submanifold only; inference_e2e/spconv_standin.py)"
