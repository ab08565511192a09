#!/usr/bin/env python3
"""GPU smoke test: run the SAM 3D Objects generation stack of a (patched) tree, compare with unpatched.

The stack is built from the upstream classes of the tree given with ``--tree`` (nothing upstream is
copied here), with random weights at the sizes of the released model (see docs/gpu.md for where
each size comes from), and driven the way ``pipeline/inference_pipeline.py`` drives it:

  ss_flow       stage 1: ShortCut generator + ClassifierFreeGuidanceWithExternalUnconditionalProbability
                around the MOT SparseStructureFlowTdfyWrapper (5 latents, 4096 shape tokens), 25 steps,
                CFG strength 7 on t in [0, 500], rescale_t 3, bf16 autocast
  ss_decoder    SparseStructureDecoderTdfyWrapper -> occupancy logits -> coords (argwhere > 0), then
                the pipeline's own downsample_sparse_structure (max 42000 voxels)
  slat_flow     stage 2: FlowMatching + ClassifierFreeGuidance around SLatFlowModelTdfyWrapper
                (sparse convs + sparse full attention), 25 steps, CFG 5, bf16 autocast; * std + mean
  gs_decoder    SLatGaussianDecoderTdfyWrapper (swin-8 sparse attention, 32 Gaussians a voxel)
  mesh_decoder  SLatMeshDecoderTdfyWrapper (two subdivisions to 256^3, FlexiCubes)

Each tree runs in its own subprocess (``--worker``), so the patched and the unpatched
``sam3d_objects`` never meet in one interpreter. The parent compares the saved outputs stage by
stage, and reports per-stage median wall time and peak memory of both trees.

Usage (on a CUDA machine; spconv or spconv-triton installed)::

    python scripts/gpu_smoke.py --tree PATCHED/sam3d_objects --tree-unpatched PRISTINE/sam3d_objects \
        --device cuda --runs 3 --attn both --force-fallback --out report.json
    # timing in balanced order (two workers per tree and backend, A B B A), stage 1 only:
    python scripts/gpu_smoke.py ... --rounds 2 --stop-after ss_decoder --no-flash-check
    # host-side cost of the _torch_compat helpers (calls per sample x cost per call; CPU is fine):
    python scripts/gpu_smoke.py --tree PATCHED/sam3d_objects --device cpu --tiny --helper-report --no-pipeline
    # merge reports into docs/gpu_results.json and draw docs/gpu_stage_times.png (no torch needed):
    python scripts/gpu_smoke.py --collect NAME=report.json[,log.txt] ... --out docs/gpu_results.json \
        --plot docs/gpu_stage_times.png --plot-source NAME

The report also holds the flash-only check (``_torch_compat.sdpa_kernel([FLASH_ATTENTION])`` against
``torch.nn.attention.sdpa_kernel`` on flash-incompatible and compatible inputs, in both branches).

On a machine without a GPU, ``--device cpu --tiny`` runs the same code at toy sizes (a small
pure-torch stand-in replaces spconv there); that is for developing this script, not a result.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import types
import zlib
from pathlib import Path

# "condition" (DINOv2 on an example image, scripts/gpu_e2e.py) runs only with --image; the other five always.
STAGES = ("condition", "ss_flow", "ss_decoder", "slat_flow", "gs_decoder", "mesh_decoder")
CORE_STAGES = STAGES[1:]

# Packages the tree imports at module level but that the path run here never calls (renderers,
# mesh post-processing, pose utilities, checkpoint IO). Stubbed only where the real import fails.
OPTIONAL_STUBS = (
    "plyfile", "utils3d", "xatlas", "pyvista", "pymeshfix", "igraph", "trimesh", "open3d",
    "pytorch3d", "gsplat", "diff_gaussian_rasterization", "diffoctreerast", "nvdiffrast", "vox2seq",
    "astor", "scipy", "safetensors", "PIL", "cv2", "tqdm", "flash_attn", "xformers", "torchvision",
)

# Sizes. "full": the released SAM 3D Objects checkpoints (config names in docs/gpu.md).
SIZES = {
    "full": dict(
        ss_res=16, ss_latent=8, ss_channels=1024, ss_blocks=24, ss_heads=16, cond_channels=1024,
        ss_cond_tokens=4 * 1370,  # image + mask, cropped + full, DINOv2-L/14 at 518: cls + 37*37
        ss_dec_channels=[512, 128, 32], ss_dec_res_blocks=2,
        slat_res=64, slat_channels=1024, slat_blocks=24, slat_heads=16, slat_io=[128],
        slat_cond_tokens=4 * 1374,  # same inputs, prenorm features: cls + 4 registers + 37*37
        dec_channels=768, dec_blocks=12, dec_heads=12, dec_window=8,
        steps=25, max_coords=42000,
    ),
    "tiny": dict(
        ss_res=8, ss_latent=8, ss_channels=64, ss_blocks=2, ss_heads=4, cond_channels=64,
        ss_cond_tokens=32,
        ss_dec_channels=[32, 32, 32], ss_dec_res_blocks=1,
        slat_res=32, slat_channels=64, slat_blocks=2, slat_heads=4, slat_io=[32],
        slat_cond_tokens=32,
        dec_channels=256, dec_blocks=2, dec_heads=4, dec_window=4,
        steps=3, max_coords=800,
    ),
}
PIPELINE = dict(ss_cfg_strength=7.0, ss_cfg_interval=[0, 500], ss_rescale_t=3,
                slat_cfg_strength=5.0, slat_cfg_interval=[0, 500], slat_rescale_t=3)


# =========================================================================== stubs and spconv
class _StubObject:
    """Stand-in for any name of a stubbed package: a class you can subclass, call and use as decorator."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return args[0] if len(args) == 1 and callable(args[0]) and not kwargs else _StubObject()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubObject()

    def __bool__(self):
        return True


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (_StubObject,), {"__module__": self.__name__})
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = set(roots)
        self.imported = set()  # the stubbed packages the tree really imported

    def find_spec(self, fullname, path=None, target=None):
        root = fullname.split(".")[0]
        if root in self.roots:
            self.imported.add(root)
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install_stubs(names):
    """Stub each top-level package in ``names`` that cannot be imported here; returns the finder."""
    finder = _StubFinder([n for n in names if importlib.util.find_spec(n) is None])
    if finder.roots:
        sys.meta_path.insert(0, finder)
    return finder


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
    return "cpu stand-in (submanifold only; this script)"


def gaussian_on_cpu():
    """``Gaussian()`` defaults to ``device="cuda"`` for its aabb tensor and its ``setup_functions()``
    calls ``.cuda()`` on three constants: point both at the CPU for a toy run."""
    import torch
    from sam3d_objects.model.backbone.tdfy_dit.representations.gaussian import gaussian_model

    defaults = list(gaussian_model.Gaussian.__init__.__defaults__)
    defaults[-1] = "cpu"
    gaussian_model.Gaussian.__init__.__defaults__ = tuple(defaults)
    setup = gaussian_model.Gaussian.setup_functions

    def setup_on_cpu(self):
        real = torch.Tensor.cuda
        torch.Tensor.cuda = lambda t, *a, **k: t
        try:
            setup(self)
        finally:
            torch.Tensor.cuda = real

    gaussian_model.Gaussian.setup_functions = setup_on_cpu


# =========================================================================== worker: build
def randomize_(module, seed, gain=1.0):
    """Deterministic random weights: the same parameter name gets the same values in every tree.

    Upstream zero-inits adaLN gates and output layers; with those zeros most of the network would
    not run at all, so every parameter is redrawn: matrices N(0, gain^2/fan_in), norm scales
    1 + N(0, 0.1^2), biases N(0, 0.02^2).
    """
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters():
            g = torch.Generator(device=p.device).manual_seed((seed * 1000003 + zlib.crc32(name.encode())) % (2 ** 63))
            noise = torch.randn(p.shape, generator=g, device=p.device, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "gamma" or (p.dim() == 1 and leaf == "weight"):
                vals = 1.0 + 0.1 * noise
            elif p.dim() >= 2:
                vals = noise * (gain / math.sqrt(p[0].numel()))
            else:
                vals = 0.02 * noise
            p.copy_(vals.to(p.dtype))


def weights_checksum(modules):
    total = 0.0
    for m in modules:
        for p in m.parameters():
            total += float(p.detach().double().abs().sum())
    return total


def build_stack(S, device, seed):
    """Construct the five modules from the tree's classes (constructor args as in the released configs)."""
    from functools import partial

    import torch
    from sam3d_objects.model.backbone.generator.shortcut.model import ShortCut
    from sam3d_objects.model.backbone.generator.flow_matching.model import FlowMatching, lognorm_sampler
    from sam3d_objects.model.backbone.generator.classifier_free_guidance import (
        ClassifierFreeGuidance,
        ClassifierFreeGuidanceWithExternalUnconditionalProbability,
    )
    from sam3d_objects.model.backbone.tdfy_dit.models.mot_sparse_structure_flow import SparseStructureFlowTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.mm_latent import (
        Latent, LearntPositionEmbedder, ShapePositionEmbedder,
    )
    from sam3d_objects.model.backbone.tdfy_dit.models.sparse_structure_vae import SparseStructureDecoderTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.structured_latent_flow import SLatFlowModelTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.structured_latent_vae.decoder_gs import SLatGaussianDecoderTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.structured_latent_vae.decoder_mesh import SLatMeshDecoderTdfyWrapper

    C = S["ss_channels"]
    with torch.device(device):
        latent_mapping = {
            "6drotation_normalized": Latent(6, C, LearntPositionEmbedder(C, 1)),
            "scale": Latent(3, C, LearntPositionEmbedder(C, 1)),
            "shape": Latent(S["ss_latent"], C, ShapePositionEmbedder(C, resolution=S["ss_res"], patch_size=1)),
            "translation": Latent(3, C, LearntPositionEmbedder(C, 1)),
            "translation_scale": Latent(1, C, LearntPositionEmbedder(C, 1)),
        }
        ss_backbone = SparseStructureFlowTdfyWrapper(
            latent_mapping=latent_mapping,
            latent_share_transformer={"6drotation_normalized": [
                "6drotation_normalized", "translation", "scale", "translation_scale"]},
            cond_channels=S["cond_channels"], condition_embedder=None, force_zeros_cond=True,
            freeze_d_time_embedder=True, freeze_shared_parameters=True, in_channels=S["ss_latent"],
            is_shortcut_model=True, mlp_ratio=4, model_channels=C, num_blocks=S["ss_blocks"],
            num_heads=S["ss_heads"], out_channels=S["ss_latent"], patch_size=1, pe_mode="ape",
            qk_rms_norm=True, resolution=S["ss_res"], use_checkpoint=False, use_fp16=False,
        )
        ss_generator = ShortCut(
            reverse_fn=ClassifierFreeGuidanceWithExternalUnconditionalProbability(
                backbone=ss_backbone, interval=PIPELINE["ss_cfg_interval"], p_unconditional=0.1,
                strength=PIPELINE["ss_cfg_strength"], unconditional_handling="add_flag",
            ),
            batch_mode=True, cfg_modalities=["shape"], inference_steps=S["steps"],
            rescale_t=PIPELINE["ss_rescale_t"], sigma_min=0.0, time_scale=1000.0,
            self_consistency_cfg_strength=2.0, self_consistency_prob=0.25, shortcut_loss_weight=1.0,
            ratio_cfg_samples_in_self_consistency_target=0.25,
            training_time_sampler_fn=partial(lognorm_sampler, mean=-1.0, std=1.0),
        )
        # the pipeline's default (non-distilled) path: no shortcut step, CFG on
        ss_generator.no_shortcut = True
        ss_decoder = SparseStructureDecoderTdfyWrapper(
            out_channels=1, latent_channels=S["ss_latent"], num_res_blocks=S["ss_dec_res_blocks"],
            num_res_blocks_middle=2, channels=S["ss_dec_channels"], reshape_input_to_cube=False,
        )
        slat_backbone = SLatFlowModelTdfyWrapper(
            cond_channels=S["cond_channels"], condition_embedder=None, force_zeros_cond=True,
            in_channels=8, io_block_channels=S["slat_io"], mlp_ratio=4, model_channels=S["slat_channels"],
            num_blocks=S["slat_blocks"], num_heads=S["slat_heads"], num_io_res_blocks=2, out_channels=8,
            patch_size=2, pe_mode="ape", qk_rms_norm=True, resolution=S["slat_res"], use_fp16=True,
        )
        slat_generator = FlowMatching(
            reverse_fn=ClassifierFreeGuidance(
                backbone=slat_backbone, p_unconditional=0.0, strength=PIPELINE["slat_cfg_strength"],
                unconditional_handling="add_flag", interval=PIPELINE["slat_cfg_interval"],
            ),
            inference_steps=S["steps"], rescale_t=PIPELINE["slat_rescale_t"], sigma_min=0.0,
            time_scale=1000.0, training_time_sampler_fn=partial(lognorm_sampler, mean=-1.0, std=1.0),
        )
        rep_gs = {
            "lr": {"_xyz": 1.0, "_features_dc": 1.0, "_opacity": 1.0, "_scaling": 1.0, "_rotation": 0.1},
            "perturb_offset": True, "voxel_size": 1.5, "num_gaussians": 32,
            "2d_filter_kernel_size": 0.1, "3d_filter_kernel_size": 9e-4, "scaling_bias": 4e-3,
            "opacity_bias": 0.1, "scaling_activation": "softplus",
        }
        dec = dict(resolution=S["slat_res"], model_channels=S["dec_channels"], latent_channels=8,
                   num_blocks=S["dec_blocks"], num_heads=S["dec_heads"], mlp_ratio=4, attn_mode="swin",
                   window_size=S["dec_window"], use_fp16=True)
        gs_decoder = SLatGaussianDecoderTdfyWrapper(representation_config=rep_gs, **dec)
        mesh_decoder = SLatMeshDecoderTdfyWrapper(representation_config={"use_color": True},
                                                 device=str(device), **dec)
    models = dict(ss_generator=ss_generator, ss_decoder=ss_decoder, slat_generator=slat_generator,
                  gs_decoder=gs_decoder, mesh_decoder=mesh_decoder)
    for i, (name, m) in enumerate(sorted(models.items())):
        randomize_(m, seed + i)
        m.eval()
    return models


# =========================================================================== worker: run
def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StageTimer:
    def __init__(self, device):
        self.device = device
        self.times = {}
        self.peaks = {}

    @contextlib.contextmanager
    def stage(self, name):
        import torch

        cuda = self.device.type == "cuda"
        _sync(self.device)
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        t0 = time.perf_counter()
        yield
        _sync(self.device)
        self.times[name] = (time.perf_counter() - t0) * 1000.0
        self.peaks[name] = torch.cuda.max_memory_allocated(self.device) if cuda else 0


LAST_OBJECTS = {}  # the last sample's Gaussian and mesh objects (for --save-ply)


def save_and_reload(gs, mesh, out_dir, tag):
    """The splat through the tree's own Gaussian.save_ply (real plyfile), read back with its load_ply.

    Returns the paths and, per attribute, whether the reloaded splat equals the saved one (save_ply
    writes float32 activations and load_ply inverts them, so equality is checked with a tolerance).
    The mesh (vertices, faces) is written as a PLY with plyfile: the tree's own mesh export
    (postprocessing_utils.to_glb) needs trimesh/xatlas/pyvista post-processing, not run here.
    """
    import numpy as np
    import torch
    from plyfile import PlyData, PlyElement
    from sam3d_objects.model.backbone.tdfy_dit.representations.gaussian.gaussian_model import Gaussian

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ply = out_dir / ("%s_splat.ply" % tag)
    t0 = time.perf_counter()
    gs.save_ply(str(ply))
    save_s = time.perf_counter() - t0
    back = Gaussian(**gs.init_params, device=gs.device)
    back.load_ply(str(ply))
    report = {"splat": str(ply), "splat_bytes": ply.stat().st_size, "save_s": save_s, "loaded_back": {}}
    for name in ("get_xyz", "get_features", "get_opacity", "get_scaling", "get_rotation"):
        a, b = getattr(gs, name).detach().float(), getattr(back, name).detach().float().to(getattr(gs, name).device)
        ok = a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5))
        report["loaded_back"][name] = {"shape": list(b.shape), "allclose": ok,
                                       "max_abs_diff": float((a - b).abs().max()) if a.shape == b.shape and a.numel() else None}
    report["splat_loads_back"] = all(v["allclose"] for v in report["loaded_back"].values())
    if mesh is not None:
        mply = out_dir / ("%s_mesh.ply" % tag)
        v = mesh.vertices.detach().float().cpu().numpy()
        f = mesh.faces.detach().cpu().numpy().astype(np.int32)
        verts = np.empty(v.shape[0], dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
        verts["x"], verts["y"], verts["z"] = v[:, 0], v[:, 1], v[:, 2]
        faces = np.empty(f.shape[0], dtype=[("vertex_indices", "i4", (3,))])
        faces["vertex_indices"] = f
        PlyData([PlyElement.describe(verts, "vertex"), PlyElement.describe(faces, "face")]).write(str(mply))
        m = PlyData.read(str(mply))
        report["mesh"] = str(mply)
        report["mesh_loads_back"] = bool(len(m["vertex"]) == v.shape[0] and len(m["face"]) == f.shape[0])
    return report


def run_sample(models, S, device, cond_ss, cond_slat, seed, slat_mean, slat_std, stop_after=None, timer=None):
    """One sample from noise, following InferencePipeline.sample_sparse_structure / sample_slat / decode_slat."""
    import torch
    from sam3d_objects.model.backbone.tdfy_dit.modules import sparse as sp
    from sam3d_objects.pipeline.inference_utils import downsample_sparse_structure

    timer = timer or StageTimer(device)
    out = {}
    bs = 1
    torch.manual_seed(seed)
    ss_generator, ss_decoder = models["ss_generator"], models["ss_decoder"]
    with torch.no_grad(), torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        with timer.stage("ss_flow"):
            latent_shape_dict = {
                k: (bs,) + (v.pos_emb.shape[0], v.input_layer.in_features)
                for k, v in ss_generator.reverse_fn.backbone.latent_mapping.items()
            }
            ss_latents = ss_generator(latent_shape_dict, device, cond_ss)
        with timer.stage("ss_decoder"):
            shape_latent = ss_latents["shape"]
            r = S["ss_res"]
            ss = ss_decoder(shape_latent.permute(0, 2, 1).contiguous().view(bs, S["ss_latent"], r, r, r))
            coords_full = torch.argwhere(ss > 0)[:, [0, 2, 3, 4]].int()
            coords, downsample_factor = downsample_sparse_structure(coords_full, max_coords=S["max_coords"])
    for k, v in ss_latents.items():
        out["ss_flow/" + k] = v.float()
    out["ss_decoder/logits"] = ss.float()
    out["ss_decoder/coords"] = coords
    info = {"voxels_before_downsample": int(coords_full.shape[0]), "voxels": int(coords.shape[0]),
            "downsample_factor": int(downsample_factor)}
    if stop_after == "ss_decoder":
        return out, timer, info

    slat_generator = models["slat_generator"]
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16), torch.no_grad():
        with timer.stage("slat_flow"):
            latent_shape = (bs,) + (coords.shape[0], 8)
            slat = slat_generator(latent_shape, device, cond_slat, coords.cpu().numpy())
            slat = sp.SparseTensor(coords=coords, feats=slat[0]).to(device)
            slat = slat * slat_std.to(device) + slat_mean.to(device)
    out["slat_flow/feats"] = slat.feats.float()

    with torch.no_grad():
        with timer.stage("mesh_decoder"):
            mesh = models["mesh_decoder"](slat)[0]
        with timer.stage("gs_decoder"):
            gs = models["gs_decoder"](slat)[0]
    for k in ("_xyz", "_features_dc", "_scaling", "_rotation", "_opacity"):
        out["gs_decoder/" + k] = getattr(gs, k).float()
    out["mesh_decoder/vertices"] = mesh.vertices.float()
    out["mesh_decoder/faces"] = mesh.faces
    if mesh.vertex_attrs is not None:
        out["mesh_decoder/vertex_attrs"] = mesh.vertex_attrs.float()
    LAST_OBJECTS["gs"], LAST_OBJECTS["mesh"] = gs, mesh
    info["gaussians"] = int(gs._xyz.shape[0])
    info["mesh_vertices"] = int(mesh.vertices.shape[0])
    info["mesh_faces"] = int(mesh.faces.shape[0])
    return out, timer, info


def flash_check(device):
    """Flash-only restriction: native torch.nn.attention.sdpa_kernel vs _torch_compat.sdpa_kernel.

    Run once with SAM3D_CODEMOD_FORCE_FALLBACK unset and once with it set (the parent does both).
    """
    import torch
    import torch.nn.functional as F
    from sam3d_objects import _torch_compat as tc

    try:
        from torch.nn.attention import SDPBackend as NativeBackend, sdpa_kernel as native_kernel
    except ImportError:
        NativeBackend = native_kernel = None
    # every SDPA backend flag this torch has: torch 2.0 has flash/mem_efficient/math, newer ones add
    # cudnn, overrideable, fa3 (native sdpa_kernel sets them all through torch._C._set_sdp_use_<name>)
    names = sorted(n[len("_set_sdp_use_"):] for n in dir(torch._C) if n.startswith("_set_sdp_use_"))
    if not names:
        names = ["flash", "mem_efficient", "math"]
    getters = {n: getattr(torch._C, "_get_%s_sdp_enabled" % n, None) for n in names}
    setters = {n: getattr(torch._C, "_set_sdp_use_%s" % n, None) for n in names}

    def flag_state():
        return {n: bool(g()) for n, g in getters.items() if g is not None}

    def qkv(dtype, head_dim):
        g = torch.Generator(device=device).manual_seed(head_dim)  # same inputs for every context manager
        return [torch.randn(1, 8, 256, head_dim, generator=g, device=device, dtype=torch.float32).to(dtype)
                for _ in range(3)]

    cases = {"float32_hd64": (torch.float32, 64), "bfloat16_hd512": (torch.bfloat16, 512),
             "bfloat16_hd64": (torch.bfloat16, 64)}
    impls = {"compat": lambda: tc.sdpa_kernel([tc.SDPBackend.FLASH_ATTENTION])}
    if native_kernel is not None:
        impls["native"] = lambda: native_kernel([NativeBackend.FLASH_ATTENTION])
    result = {"force_fallback": bool(tc.FORCE_FALLBACK), "compat_backend_enum": tc.SDPBackend.__module__ + "." + tc.SDPBackend.__name__,
              "flags_before": flag_state(), "cases": {}}
    outputs = {}
    for impl, make in impls.items():
        for case, (dtype, hd) in cases.items():
            q, k, v = qkv(dtype, hd)
            before = flag_state()
            entry = {}
            try:
                with make():
                    entry["flags_inside"] = flag_state()
                    o = F.scaled_dot_product_attention(q, k, v)
                    _sync(device)
                entry["outcome"] = "ran"
                outputs[(impl, case)] = o.float().cpu()
            except RuntimeError as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
                entry["outcome"] = "RuntimeError"
                entry["message"] = msg[:300]
                entry["no_available_kernel"] = "No available kernel" in str(e)
            entry["flags_restored"] = flag_state() == before
            result["cases"]["%s/%s" % (impl, case)] = entry
    # the compatible input gives the same numbers under both context managers
    a, b = outputs.get(("compat", "bfloat16_hd64")), outputs.get(("native", "bfloat16_hd64"))
    if a is not None and b is not None:
        result["compat_vs_native_max_abs_diff"] = float((a - b).abs().max())
    # diagnosis: the fallback with every backend flag torch has (not only the four of torch 2.0) turned off
    extra = [k for k in setters if k not in ("flash", "mem_efficient", "math", "cudnn") and setters[k]]
    if extra and tc.FORCE_FALLBACK:
        saved = flag_state()
        q, k, v = qkv(torch.float32, 64)
        try:
            with tc.sdpa_kernel([tc.SDPBackend.FLASH_ATTENTION]):
                for name in extra:
                    setters[name](False)
                F.scaled_dot_product_attention(q, k, v)
                _sync(device)
            result["fallback_with_%s_off" % "_".join(extra)] = "ran"
        except RuntimeError as e:
            result["fallback_with_%s_off" % "_".join(extra)] = str(e).strip().splitlines()[0][:300]
        finally:
            for name, value in saved.items():
                if setters.get(name):
                    setters[name](value)
    # reference: what an unrestricted call does with the incompatible inputs
    q, k, v = qkv(torch.float32, 64)
    ref = F.scaled_dot_product_attention(q, k, v)
    result["unrestricted_float32_runs"] = bool(torch.isfinite(ref).all())
    return result


HELPERS = ("tree_map", "sdpa_kernel", "is_compiling", "check_tensor", "autocast", "compile")


def count_helper_calls(compat):
    """Wrap the _torch_compat helpers (the patched tree looks them up at call time) with call counters."""
    counts = {}
    for name in HELPERS:
        fn = getattr(compat, name, None)
        if fn is None:
            continue

        def counted(*args, __fn=fn, __name=name, **kwargs):
            counts[__name] = counts.get(__name, 0) + 1
            return __fn(*args, **kwargs)

        setattr(compat, name, counted)
    return counts


def helper_bench(compat, number=20000):
    """Host-side cost of each helper against the native call the unpatched tree makes (microseconds)."""
    import timeit

    import torch
    import torch.utils._pytree as pytree
    from torch.nn.attention import SDPBackend, sdpa_kernel

    t = torch.zeros(1)
    tree = {"shape": t, "6drotation_normalized": t}
    other = {"shape": t, "6drotation_normalized": t}

    def fn(a, b):
        return a

    def enter_exit(cm):
        with cm:
            pass

    cases = {
        "tree_map": (lambda: pytree.tree_map(fn, tree, other), lambda: compat.tree_map(fn, tree, other)),
        "sdpa_kernel": (lambda: enter_exit(sdpa_kernel(backends=[SDPBackend.FLASH_ATTENTION])),
                        lambda: enter_exit(compat.sdpa_kernel(backends=[compat.SDPBackend.FLASH_ATTENTION]))),
        "is_compiling": (lambda: torch.compiler.is_compiling(), lambda: compat.is_compiling()),
    }
    out = {}
    for name, (native, helper) in cases.items():
        best = {"native": float("inf"), "helper": float("inf")}
        native(), helper()
        for _ in range(9):  # interleaved, best of 9: the least disturbed measurement of each
            for label, f in (("native", native), ("helper", helper)):
                best[label] = min(best[label], timeit.timeit(f, number=number) / number * 1e6)
        out[name] = {"native_us": best["native"], "helper_us": best["helper"],
                     "overhead_us": best["helper"] - best["native"]}
    return out


def worker(args):
    tree_parent = str(Path(args.tree).resolve().parent)
    sys.path.insert(0, tree_parent)
    stub_names = list(OPTIONAL_STUBS) + [n for n in args.stub_extra.split(",") if n]
    stubs = install_stubs(stub_names)
    import torch

    device = torch.device(args.device)
    if args.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    spconv_impl = install_spconv(device.type)
    import sam3d_objects

    assert Path(sam3d_objects.__file__).resolve().parent == Path(args.tree).resolve(), sam3d_objects.__file__
    if device.type == "cpu":
        gaussian_on_cpu()
    compat = None
    try:
        from sam3d_objects import _torch_compat as compat
    except ImportError:
        pass
    result = {
        "tree": str(Path(args.tree).resolve()),
        "patched": compat is not None,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "attn_backend": os.environ.get("ATTN_BACKEND"),
        "force_fallback_env": os.environ.get("SAM3D_CODEMOD_FORCE_FALLBACK"),
        "force_fallback_active": bool(getattr(compat, "FORCE_FALLBACK", False)),
        "compat_version": "%s (%s)" % (getattr(compat, "SAM3D_CODEMOD_VERSION", "-"), getattr(compat, "SAM3D_CODEMOD_HASH", "-")),
        "stubbed": sorted(stubs.roots),  # missing here, so importable as stubs; see stubs_imported
        "spconv": spconv_impl,
    }
    if args.flash_check:
        result["flash_check"] = flash_check(device)
        result["stubs_imported"] = sorted(stubs.imported)
        Path(args.result).write_text(json.dumps(result, indent=2))
        return 0
    if args.helper_bench:
        result["helper_bench"] = helper_bench(compat)
        Path(args.result).write_text(json.dumps(result, indent=2))
        return 0
    helper_counts = count_helper_calls(compat) if (args.count_helpers and compat is not None) else None
    from sam3d_objects.model.backbone.tdfy_dit.modules import attention as dense_attn
    from sam3d_objects.model.backbone.tdfy_dit.modules import sparse as sp
    from sam3d_objects.pipeline.inference_utils import SLAT_MEAN, SLAT_STD

    result["dense_attention"] = dense_attn.BACKEND
    result["sparse_attention"] = sp.ATTN
    result["sparse_backend"] = sp.BACKEND
    S = dict(SIZES["tiny" if args.tiny else "full"])
    if args.full_depth:  # released block counts and steps at the chosen widths (for counting helper calls)
        for k in ("ss_blocks", "slat_blocks", "dec_blocks", "steps"):
            S[k] = SIZES["full"][k]
    if args.steps:
        S["steps"] = args.steps
    result["sizes"] = S
    t0 = time.perf_counter()
    models = build_stack(S, device, args.seed)
    _sync(device)
    result["build_s"] = time.perf_counter() - t0
    result["params"] = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    result["weights_checksum"] = weights_checksum(models.values())
    g = torch.Generator(device=device).manual_seed(args.seed + 17)
    cond_ss = torch.randn(1, S["ss_cond_tokens"], S["cond_channels"], generator=g, device=device)
    cond_slat = torch.randn(1, S["slat_cond_tokens"], S["cond_channels"], generator=g, device=device)
    condition = None
    if args.image:
        # the example image and its mask through the tree's own Dino embedder (gpu_e2e.py)
        import gpu_e2e
        from sam3d_objects.model.backbone.dit.embedder.dino import Dino

        hub = gpu_e2e.write_hub(args.dino_hub or (Path(args.result).parent / "dino_hub"))
        image, mask = gpu_e2e.load_example(args.image, args.mask)
        toy = dict(embed_dim=S["cond_channels"], depth=2, num_heads=4) if args.tiny else {}
        size = 56 if args.tiny else 518

        condition = gpu_e2e.make_condition(Dino, image, mask, hub, device, seed=args.seed, input_size=size, **toy)
        cond_ss, cond_slat = condition()
        assert cond_ss.shape[1] == S["ss_cond_tokens"] or args.tiny, cond_ss.shape
        assert cond_slat.shape[1] == S["slat_cond_tokens"] or args.tiny, cond_slat.shape
        result["condition_tokens"] = [list(cond_ss.shape), list(cond_slat.shape)]
    runs = []
    first = None
    self_diff = {}
    total_runs = args.warmup + args.runs
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(total_runs):
        t0 = time.perf_counter()
        timer = StageTimer(device)
        if condition is not None:
            with timer.stage("condition"):
                cond_ss, cond_slat = condition()
        out, timer, info = run_sample(models, S, device, cond_ss, cond_slat, args.seed, SLAT_MEAN, SLAT_STD,
                                      stop_after=args.stop_after, timer=timer)
        if condition is not None:
            out["condition/ss"], out["condition/slat"] = cond_ss, cond_slat
        _sync(device)
        wall = (time.perf_counter() - t0) * 1000.0
        warm = i < args.warmup
        print("[worker] run %d%s: %s total %.1f ms  %s" % (
            i, " (warmup)" if warm else "", " ".join("%s=%.1f" % kv for kv in timer.times.items()), wall, info),
            flush=True)
        result.setdefault("run_infos", []).append(info)
        if not warm:
            runs.append({"stage_ms": timer.times, "stage_peak_bytes": timer.peaks, "total_ms": wall})
        if helper_counts is not None and "helper_calls_per_sample" not in result:
            result["helper_calls_per_sample"] = dict(helper_counts)
        if first is None:
            first = out
            torch.save({k: v.detach().cpu() for k, v in out.items()}, args.dump)
            result["info"] = info
            result["nonfinite"] = {k: int((~torch.isfinite(v)).sum()) for k, v in out.items() if v.is_floating_point()}
            if args.save_ply and LAST_OBJECTS.get("gs") is not None:
                try:
                    result["saved"] = save_and_reload(LAST_OBJECTS["gs"], LAST_OBJECTS.get("mesh"), args.save_ply,
                                                      Path(args.result).stem)
                except Exception as e:  # noqa: BLE001 - reported, the timing goes on
                    result["saved"] = {"error": "%s: %s" % (type(e).__name__, e)}
                print("[worker] saved: %s" % json.dumps(result["saved"])[:600], flush=True)
            LAST_OBJECTS.clear()
        else:
            for k, v in out.items():
                a = first[k]
                if a.shape != v.shape:
                    self_diff[k] = "shape %s vs %s" % (tuple(a.shape), tuple(v.shape))
                else:
                    d = float((a.double() - v.double()).abs().max()) if a.numel() else 0.0
                    self_diff[k] = max(d, self_diff.get(k, 0.0)) if not isinstance(self_diff.get(k), str) else self_diff[k]
        del out
        result["runs"] = runs
        result["repeat_max_abs_diff"] = self_diff
        result["stubs_imported"] = sorted(stubs.imported)
        if device.type == "cuda":
            result["peak_bytes"] = max(max(r["stage_peak_bytes"].values()) for r in runs) if runs else None
        Path(args.result).write_text(json.dumps(result, indent=2))  # partial results survive a timeout
    result["runs"] = runs
    result["repeat_max_abs_diff"] = self_diff  # same tree, same process, same seed: the noise floor
    Path(args.result).write_text(json.dumps(result, indent=2))
    return 0


# =========================================================================== parent
COUNT_OF = {"mesh_decoder/vertices": "mesh_vertices", "mesh_decoder/vertex_attrs": "mesh_vertices",
            "mesh_decoder/faces": "mesh_faces", "gs_decoder/_xyz": "gaussians", "slat_flow/feats": "voxels"}


def noise_floor(workers):
    """Run-to-run differences of each output within one process (same tree, weights and seed).

    Returns (max |diff| per output over all workers, spread of each count over the runs of one worker).
    """
    values, counts = {}, {}
    for res in workers.values():
        for k, v in (res.get("repeat_max_abs_diff") or {}).items():
            if isinstance(v, (int, float)):
                values[k] = max(values.get(k, 0.0), float(v))
        infos = res.get("run_infos") or []
        if len(infos) > 1:
            for key in ("mesh_vertices", "mesh_faces", "gaussians", "voxels"):
                xs = [i[key] for i in infos if key in i]
                if xs:
                    counts[key] = max(counts.get(key, 0), max(xs) - min(xs))
    return values, counts


def compare(ref_path, new_path, rtol, atol_frac, noise=None):
    """Per-output diffs of ``new`` against ``ref`` (both dumps of run_sample).

    ``equal``: allclose (rtol, atol = atol_frac * max|ref|), or bitwise for integer outputs.
    ``within_noise``: equal, or the difference is at most twice what the same tree shows between
    two runs in one process (GPU atomics make later stages vary run to run); for outputs whose
    length varies (mesh vertices/faces), the length difference against the run-to-run spread.
    """
    import torch

    values, counts = noise or ({}, {})
    ref = torch.load(ref_path)
    new = torch.load(new_path)
    per_key = {}
    for k in sorted(set(ref) | set(new)):
        if k not in ref or k not in new:
            per_key[k] = {"equal": False, "within_noise": False,
                          "why": "missing in %s" % ("reference" if k not in ref else "candidate")}
            continue
        a, b = new[k], ref[k]
        if a.shape != b.shape:
            entry = {"equal": False, "why": "shape %s vs %s" % (tuple(a.shape), tuple(b.shape))}
            spread = counts.get(COUNT_OF.get(k, ""), 0)
            diff = abs(a.shape[0] - b.shape[0])
            entry.update({"length_diff": diff, "run_to_run_length_spread": spread,
                          "within_noise": a.shape[1:] == b.shape[1:] and spread > 0 and diff <= 2 * spread})
            per_key[k] = entry
            continue
        if not a.is_floating_point():
            eq = bool(torch.equal(a, b))
            per_key[k] = {"equal": eq, "exact": eq, "within_noise": eq,
                          "max_abs": 0.0 if eq else float((a.long() - b.long()).abs().max())}
            continue
        a64, b64 = a.double(), b.double()
        finite = torch.isfinite(b64)
        same_nonfinite = bool(torch.equal(torch.isfinite(a64), finite))
        d = (a64 - b64).abs()[finite] if a.numel() else torch.zeros(1, dtype=torch.float64)
        scale = float(b64[finite].abs().max()) if finite.any() else 0.0
        max_abs = float(d.max()) if d.numel() else 0.0
        rel_l2 = float(d.norm() / b64[finite].norm()) if finite.any() and float(b64[finite].norm()) > 0 else 0.0
        atol = atol_frac * scale
        close = same_nonfinite and bool(torch.allclose(a64[finite], b64[finite], rtol=rtol, atol=atol))
        floor = values.get(k)
        per_key[k] = {"equal": close, "exact": bool(torch.equal(a, b)), "max_abs": max_abs,
                      "max_rel": max_abs / scale if scale else 0.0, "rel_l2": rel_l2,
                      "run_to_run_max_abs": floor,
                      "within_noise": close or (same_nonfinite and floor is not None and max_abs <= 2 * floor)}
    stages = {}
    for st in STAGES:
        keys = [k for k in per_key if k.startswith(st + "/")]
        if not keys:
            continue
        floats = [per_key[k] for k in keys if "max_abs" in per_key[k]]
        floors = [e["run_to_run_max_abs"] for e in floats if e.get("run_to_run_max_abs") is not None]
        stages[st] = {
            "equal": all(per_key[k]["equal"] for k in keys),
            "exact": all(per_key[k].get("exact", False) for k in keys),
            "within_noise": all(per_key[k]["within_noise"] for k in keys),
            "max_abs": max((e["max_abs"] for e in floats), default=None),
            "max_rel": max((e.get("max_rel", 0.0) for e in floats), default=None),
            "run_to_run_max_abs": max(floors) if floors else None,
            "length_diffs": {k: per_key[k]["length_diff"] for k in keys if "length_diff" in per_key[k]},
        }
    return {"stages": stages, "outputs": per_key}


def _median(xs):
    return statistics.median(xs) if xs else None


def summarize_timing(res):
    runs = res.get("runs") or []
    med = {st: _median([r["stage_ms"][st] for r in runs if st in r["stage_ms"]]) for st in STAGES}
    med["total"] = _median([r["total_ms"] for r in runs])
    best = {st: min((r["stage_ms"][st] for r in runs if st in r["stage_ms"]), default=None) for st in STAGES}
    best["total"] = min((r["total_ms"] for r in runs), default=None)
    peaks = {st: max((r["stage_peak_bytes"].get(st, 0) for r in runs), default=0) for st in STAGES}
    return med, best, peaks


def spawn(args, tree, attn, tag, tmp, force_fallback=False, flash_check=False, runs=None, warmup=None,
          stub_extra="", timeout=None, helper_bench=False, count_helpers=False):
    env = dict(os.environ)
    env["ATTN_BACKEND"] = attn
    env.pop("SPARSE_ATTN_BACKEND", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TRITON_CACHE_DIR", str(Path(tmp) / "triton-cache"))
    if force_fallback:
        env["SAM3D_CODEMOD_FORCE_FALLBACK"] = "1"
    else:
        env.pop("SAM3D_CODEMOD_FORCE_FALLBACK", None)
    if tag.startswith("unpatched"):
        # upstream __init__ imports sam3d_objects.init, which the public tree lacks
        env["LIDRA_SKIP_INIT"] = "1"
    else:
        env.pop("LIDRA_SKIP_INIT", None)
    result = Path(tmp) / ("%s.json" % tag)
    dump = Path(tmp) / ("%s.pt" % tag)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--tree", tree, "--device", args.device,
           "--seed", str(args.seed), "--runs", str(args.runs if runs is None else runs),
           "--warmup", str(args.warmup if warmup is None else warmup), "--result", str(result),
           "--dump", str(dump), "--stub-extra", stub_extra]
    if args.tiny:
        cmd.append("--tiny")
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    if flash_check:
        cmd.append("--flash-check")
    if args.stop_after:
        cmd += ["--stop-after", args.stop_after]
    if helper_bench:
        cmd.append("--helper-bench")
    if count_helpers:
        cmd += ["--count-helpers", "--full-depth"]
    if args.deterministic:
        cmd.append("--deterministic")
        env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    if args.save_ply:
        cmd += ["--save-ply", args.save_ply]
    if args.image:
        cmd += ["--image", args.image, "--mask", args.mask]
    print("\n=== %s: ATTN_BACKEND=%s%s" % (tag, attn, " SAM3D_CODEMOD_FORCE_FALLBACK=1" if force_fallback else ""),
          flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, check=False)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout after %.0f s" % timeout
    took = time.perf_counter() - t0
    if not result.exists():
        return {"error": "worker exited %s" % rc, "wall_s": took}, None
    data = json.loads(result.read_text())
    data["wall_s"] = took
    if rc != 0:
        data["error"] = "worker exited %s (partial results kept)" % rc
    return data, (dump if dump.exists() else None)


def _finish_attn(entry, dumps, args):
    """Compare the dumps of one ATTN_BACKEND and summarize its timings; returns whether all is equal."""
    ok = True
    ref_name = "unpatched" if dumps.get("unpatched") else "patched"
    noise = noise_floor(entry["workers"])
    entry["run_to_run"] = {"max_abs": noise[0], "length_spread": noise[1]}
    for name in ("patched", "patched_fallback"):
        if name != ref_name and dumps.get(name) and dumps.get(ref_name):
            cmp = compare(dumps[ref_name], dumps[name], args.rtol, args.atol_frac, noise)
            entry["compare"]["%s_vs_%s" % (name, ref_name)] = cmp
            expected = STAGES[:STAGES.index(args.stop_after) + 1] if args.stop_after else STAGES
            expected = [st for st in expected if st != "condition" or args.image]
            ok &= all(s["within_noise"] for s in cmp["stages"].values()) and len(cmp["stages"]) == len(expected)
    merged = {}  # the rounds of one tree pool their timed runs
    for name, res in entry["workers"].items():
        if res.get("runs"):
            base = re.sub(r"_r\d+$", "", name)
            m = merged.setdefault(base, {"runs": [], "peak_bytes": 0})
            m["runs"] += res["runs"]
            m["peak_bytes"] = max([m["peak_bytes"]] + [max(r["stage_peak_bytes"].values()) for r in res["runs"]])
    for name, res in merged.items():
        med, best, peaks = summarize_timing(res)
        entry["timing"][name] = {"median_ms": med, "min_ms": best, "stage_peak_bytes": peaks,
                                 "peak_bytes": res["peak_bytes"], "n_runs": len(res["runs"]),
                                 "all_ms": [r["stage_ms"] for r in res["runs"]]}
    t = entry["timing"]
    if "patched" in t and "unpatched" in t:
        for stat in ("median", "min"):
            ratio = {}
            for st in list(STAGES) + ["total"]:
                p, u = t["patched"][stat + "_ms"][st], t["unpatched"][stat + "_ms"][st]
                ratio[st] = p / u if p is not None and u else None
            entry["time_ratio_patched_over_unpatched" + ("" if stat == "median" else "_min")] = ratio
    return ok


def main_parent(args):
    started = time.perf_counter()
    trees = {"patched": str(Path(args.tree).resolve())}
    if args.tree_unpatched:
        trees["unpatched"] = str(Path(args.tree_unpatched).resolve())
    for name, t in trees.items():
        if Path(t).name != "sam3d_objects" and (Path(t) / "sam3d_objects").is_dir():
            trees[name] = str(Path(t) / "sam3d_objects")
        if not (Path(trees[name]) / "__init__.py").is_file():
            raise SystemExit("%s: not a sam3d_objects package dir" % trees[name])
    attns = ["torch_flash_attn", "sdpa"] if args.attn == "both" else [args.attn]
    tmp = tempfile.mkdtemp(prefix="gpu_smoke_")
    report = None
    if args.append and args.out and Path(args.out).is_file():
        report = json.loads(Path(args.out).read_text())
        report.setdefault("commands", [report.get("command")]).append(" ".join(sys.argv))
    if report is None:
        report = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv), "device": args.device,
                  "tiny": bool(args.tiny), "seed": args.seed, "runs": args.runs, "warmup": args.warmup,
                  "deterministic": bool(args.deterministic),
                  "tolerance": {"rtol": args.rtol, "atol": "%g * max|reference|" % args.atol_frac},
                  "pipeline": PIPELINE, "sizes": SIZES["tiny" if args.tiny else "full"], "attn": {}}
    skipped = []

    def remaining():
        return None if not args.deadline_s else args.deadline_s - (time.perf_counter() - started)

    def save():
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")

    def run(tag, *a, **kw):
        left = remaining()
        if left is not None and left < args.min_child_s:
            skipped.append(tag)
            print("\n=== %s: skipped, %.0f s left before the deadline" % (tag, left), flush=True)
            return {"error": "skipped (deadline)"}, None
        return spawn(args, *a, timeout=left, **kw)

    ok = True
    jobs = []  # (attn, worker name, kwargs)
    for i, attn in enumerate(attns):
        # alternate which tree goes first (per backend and per round: A B B A ...), so a drift of
        # the machine's speed does not favour one tree
        for r in range(args.rounds):
            order = ["unpatched", "patched"] if (i + r) % 2 == 0 else ["patched", "unpatched"]
            if "unpatched" not in trees:
                order = ["patched"]
            for name in order:
                jobs.append((attn, name if r == 0 else "%s_r%d" % (name, r),
                             dict(tree=trees[name], stub_extra="kaolin" if name == "unpatched" else "")))
        if args.force_fallback:
            jobs.append((attn, "patched_fallback", dict(tree=trees["patched"], force_fallback=True,
                                                        runs=args.fallback_runs, warmup=0)))
    # the flash-only restriction check first: it is quick, and must not be squeezed out by the deadline
    if (args.device == "cuda" or args.flash_check_cpu) and not args.no_flash_check:
        checks = {}
        for ff in (False, True):
            tag = "flashcheck-%s" % ("fallback" if ff else "native")
            res, _ = run(tag, trees["patched"], "sdpa", tag, tmp, force_fallback=ff, flash_check=True)
            checks["fallback" if ff else "native"] = res
        report["flash_check"] = checks
        report["flash_check_verdict"] = flash_verdict(checks, args.device)
        if args.device == "cuda":
            ok &= report["flash_check_verdict"]["ok"]
        save()
    if args.helper_report:
        # host-side cost of the helpers: calls per sample (released depths, toy widths) x cost per call
        hr = {}
        res, _ = run("helper-bench", trees["patched"], "torch_flash_attn", "helper-bench", tmp, helper_bench=True)
        hr["bench"] = res.get("helper_bench", res)
        for attn in attns:
            tag = "helper-count-%s" % attn
            res, _ = run(tag, trees["patched"], attn, tag, tmp, count_helpers=True, runs=1, warmup=0)
            calls = res.get("helper_calls_per_sample") or {}
            bench = hr["bench"] if isinstance(hr["bench"], dict) else {}
            # a negative difference is below the timer's resolution: count it as zero
            cost = sum(n * max(bench.get(k, {}).get("overhead_us", 0.0), 0.0) for k, n in calls.items()) / 1000.0
            hr[attn] = {"calls_per_sample": calls, "sizes": res.get("sizes"), "estimated_overhead_ms": cost}
        report["helper_overhead"] = hr
        save()
    for attn in attns:
        if args.helper_report and args.no_pipeline:
            break
        entry = report["attn"].setdefault(attn, {})
        entry.update({"workers": {}, "compare": {}, "timing": {}})
        dumps = {}
        for a, name, kw in jobs:
            if a != attn:
                continue
            tree = kw.pop("tree")
            tag = "%s-%s" % (name.replace("_", "-"), attn)
            res, dump = run(tag, tree, attn, tag, tmp, **kw)
            entry["workers"][name] = res
            dumps[name] = dump
            ok &= "error" not in res
            save()
        ok &= _finish_attn(entry, dumps, args)
        save()
        for d in dumps.values():
            if d and not args.keep:
                d.unlink(missing_ok=True)
    if skipped:
        report["skipped"] = skipped
    report["ok"] = bool(ok) and not skipped
    report["parent_wall_s"] = time.perf_counter() - started
    print_summary(report)
    save()
    if args.out:
        print("wrote", args.out)
    if args.keep:
        print("worker results and dumps kept in", tmp)
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report["ok"] else 1


def flash_verdict(checks, device):
    """Expected on CUDA: both incompatible inputs fail with 'No available kernel' under both context
    managers (native and _torch_compat, in both branches), the compatible one runs, flags are restored."""
    problems = []
    for mode, res in checks.items():
        fc = (res or {}).get("flash_check")
        if not fc:
            problems.append("%s: no result (%s)" % (mode, (res or {}).get("error")))
            continue
        if mode == "fallback" and not fc.get("force_fallback"):
            problems.append("fallback: FORCE_FALLBACK not active")
        for key, entry in fc["cases"].items():
            case = key.split("/")[1]
            if case == "bfloat16_hd64":
                if entry["outcome"] != "ran":
                    problems.append("%s %s: compatible input failed: %s" % (mode, key, entry.get("message")))
            elif device == "cuda" and not entry.get("no_available_kernel"):
                problems.append("%s %s: expected 'No available kernel', got %s" % (mode, key, entry["outcome"]))
            if not entry["flags_restored"]:
                problems.append("%s %s: SDP flags not restored" % (mode, key))
        if fc.get("compat_vs_native_max_abs_diff", 0.0) != 0.0:
            problems.append("%s: compat and native outputs differ" % mode)
    return {"ok": not problems, "problems": problems}


def _fmt_bytes(b):
    return "%.2f GiB" % (b / 2 ** 30) if b else "-"


def print_summary(report):
    print("\n================ summary ================")
    for attn, entry in report["attn"].items():
        print("\nATTN_BACKEND=%s" % attn)
        for name, res in entry["workers"].items():
            if "error" in res:
                print("  %s: ERROR %s" % (name, res["error"]))
            else:
                stubs = res.get("stubs_imported", res.get("stubbed", []))
                print("  %s: voxels %s, stubs imported %s, spconv %s" % (
                    name, res.get("info", {}).get("voxels"), ",".join(stubs) or "-", res.get("spconv")))
        t = entry["timing"]
        ratio = entry.get("time_ratio_patched_over_unpatched", {})
        cmp = next((c for k, c in entry["compare"].items() if k.startswith("patched_vs")), None)
        print("  %-13s %12s %12s %7s %11s %11s %10s %8s" % ("stage", "patched ms", "unpatched ms", "ratio",
                                                             "peak P", "peak U", "max |d|", "equal"))
        for st in list(STAGES) + ["total"]:
            p = t.get("patched", {}).get("median_ms", {}).get(st)
            u = t.get("unpatched", {}).get("median_ms", {}).get(st)
            pp = t.get("patched", {}).get("stage_peak_bytes", {}).get(st) if st != "total" else t.get("patched", {}).get("peak_bytes")
            pu = t.get("unpatched", {}).get("stage_peak_bytes", {}).get(st) if st != "total" else t.get("unpatched", {}).get("peak_bytes")
            c = (cmp or {}).get("stages", {}).get(st, {})
            print("  %-13s %12s %12s %7s %11s %11s %10s %8s" % (
                st, "%.1f" % p if p is not None else "-", "%.1f" % u if u is not None else "-",
                "%.3f" % ratio[st] if ratio.get(st) else "-", _fmt_bytes(pp), _fmt_bytes(pu),
                "%.3g" % c["max_abs"] if c.get("max_abs") is not None else "-",
                ("bitwise" if c["exact"] else "yes" if c["equal"] else "noise" if c["within_noise"] else "NO")
                if c else "-"))
        for k, c in entry["compare"].items():
            print("  %s: %s" % (k, ", ".join(
                "%s=%s" % (st, "bitwise" if s["exact"] else "allclose" if s["equal"] else
                           "within run-to-run noise" if s["within_noise"] else "DIFFERENT")
                for st, s in c["stages"].items())))
        rmin = entry.get("time_ratio_patched_over_unpatched_min", {})
        if rmin.get("total"):
            print("  ratio of best runs: %s" % ", ".join("%s %.3f" % (st, v) for st, v in rmin.items() if v))
    hr = report.get("helper_overhead")
    if hr:
        for k, v in (hr.get("bench") or {}).items():
            if isinstance(v, dict) and "overhead_us" in v:
                print("helper %-13s native %.2f us, _torch_compat %.2f us (+%.2f us a call)" % (
                    k, v["native_us"], v["helper_us"], v["overhead_us"]))
        for attn, v in hr.items():
            if attn != "bench" and isinstance(v, dict):
                print("helper calls per sample (%s): %s -> about %.2f ms a sample" % (
                    attn, v.get("calls_per_sample"), v.get("estimated_overhead_ms", 0.0)))
    if "flash_check_verdict" in report:
        v = report["flash_check_verdict"]
        print("\nflash-only restriction: %s" % ("OK" if v["ok"] else "PROBLEMS: " + "; ".join(v["problems"])))
    print("\nOK" if report["ok"] else "\nFAILED")


# =========================================================================== collect (docs)
def _parse_worker_log(path):
    """{tag: [info dict of every run]} from a log of this script (the '[worker] run N: ... {...}' lines)."""
    import ast

    runs, tag = {}, None
    for line in Path(path).read_text(errors="replace").splitlines():
        m = re.match(r"=== (\S+): ATTN_BACKEND=", line)
        if m:
            tag = m.group(1)
            continue
        m = re.match(r"\[worker\] run \d+.*?(\{.*\})\s*$", line)
        if m and tag:
            runs.setdefault(tag, []).append(ast.literal_eval(m.group(1)))
    return runs


def _reverdict(entry, attn, log_runs):
    """Noise-aware verdicts for a report written before compare() had them (from its stored numbers)."""
    workers = entry["workers"]
    for name, res in workers.items():
        if "run_infos" not in res:
            tag = "%s-%s" % (name.replace("_", "-"), attn)
            if tag in log_runs:
                res["run_infos"] = log_runs[tag]
    values, counts = noise_floor(workers)
    entry["run_to_run"] = {"max_abs": values, "length_spread": counts}
    for cmp in entry["compare"].values():
        for k, e in cmp["outputs"].items():
            if "within_noise" in e:
                continue
            if "why" in e and e["why"].startswith("shape"):
                m = re.match(r"shape \((\d+), [^)]*\) vs \((\d+), ", e["why"])
                spread = counts.get(COUNT_OF.get(k, ""), 0)
                diff = abs(int(m.group(1)) - int(m.group(2))) if m else None
                e.update({"length_diff": diff, "run_to_run_length_spread": spread,
                          "within_noise": diff is not None and spread > 0 and diff <= 2 * spread})
            else:
                floor = values.get(k)
                e["run_to_run_max_abs"] = floor
                e["within_noise"] = e["equal"] or (floor is not None and e.get("max_abs", float("inf")) <= 2 * floor)
        for st, sv in cmp["stages"].items():
            keys = [k for k in cmp["outputs"] if k.startswith(st + "/")]
            sv["within_noise"] = all(cmp["outputs"][k]["within_noise"] for k in keys)
            floors = [cmp["outputs"][k].get("run_to_run_max_abs") for k in keys]
            floors = [f for f in floors if f is not None]
            sv["run_to_run_max_abs"] = max(floors) if floors else None
            sv["length_diffs"] = {k: cmp["outputs"][k]["length_diff"] for k in keys if "length_diff" in cmp["outputs"][k]}
            nums = [cmp["outputs"][k] for k in keys if "max_rel" in cmp["outputs"][k]]
            sv["max_abs"] = max((e["max_abs"] for e in nums), default=None)
            sv["max_rel"] = max((e["max_rel"] for e in nums), default=None)


def _verdict(sv):
    return ("bitwise" if sv.get("exact") else "allclose" if sv.get("equal") else
            "within run-to-run noise" if sv.get("within_noise") else "DIFFERENT")


def collect(args):
    """Merge device reports (``name=report.json[,log.txt]``) into one results file, with a summary and a plot."""
    sources = {}
    for spec in args.collect:
        name, _, paths = spec.partition("=")
        report_path, _, log_path = paths.partition(",")
        report = json.loads(Path(report_path).read_text())
        log_runs = _parse_worker_log(log_path) if log_path else {}
        for attn, entry in report.get("attn", {}).items():
            if entry.get("compare"):
                _reverdict(entry, attn, log_runs)
            # reports written before the fix hold the last stage's peak as the sample's: use the max
            for tt in entry.get("timing", {}).values():
                tt["peak_bytes"] = max(tt["stage_peak_bytes"].values())
            for res in entry.get("workers", {}).values():
                if res.get("runs"):
                    res["peak_bytes"] = max(max(r["stage_peak_bytes"].values()) for r in res["runs"])
        sources[name] = report
    summary = {"equality": {}, "timing": {}, "peak_memory_bytes": {}}
    for name, report in sources.items():
        for attn, entry in report.get("attn", {}).items():
            for cname, cmp in entry.get("compare", {}).items():
                summary["equality"].setdefault(name, {}).setdefault(attn, {})[cname] = {
                    st: {"verdict": _verdict(sv), "max_abs": sv.get("max_abs"), "max_rel": sv.get("max_rel"),
                         "run_to_run_max_abs": sv.get("run_to_run_max_abs"), "length_diffs": sv.get("length_diffs")}
                    for st, sv in cmp["stages"].items()}
            t = entry.get("timing", {})
            if "patched" in t and "unpatched" in t:
                rows = {}
                for st in list(STAGES) + ["total"]:
                    p, u = t["patched"]["median_ms"].get(st), t["unpatched"]["median_ms"].get(st)
                    if p is None or u is None:
                        continue
                    pm, um = t["patched"].get("min_ms", {}).get(st), t["unpatched"].get("min_ms", {}).get(st)
                    rows[st] = {"patched_ms": p, "unpatched_ms": u, "ratio": p / u,
                                "ratio_of_best": pm / um if pm and um else None,
                                "runs": [t["patched"].get("n_runs") or len(report["attn"][attn]["workers"]["patched"].get("runs", [])),
                                         t["unpatched"].get("n_runs") or len(report["attn"][attn]["workers"]["unpatched"].get("runs", []))]}
                summary["timing"].setdefault(name, {})[attn] = rows
                summary["peak_memory_bytes"].setdefault(name, {})[attn] = {
                    tree: dict(t[tree]["stage_peak_bytes"], sample=max(t[tree]["stage_peak_bytes"].values()))
                    for tree in ("patched", "unpatched")}
        if "flash_check_verdict" in report:
            fc = {"verdict": report["flash_check_verdict"]}
            for mode, res in report.get("flash_check", {}).items():
                f = res.get("flash_check", {})
                fc[mode] = {"cases": {k: {kk: vv for kk, vv in v.items() if kk in ("outcome", "message", "flags_inside", "flags_restored")}
                                      for k, v in f.get("cases", {}).items()},
                            **{k: v for k, v in f.items() if k.startswith("fallback_with_") or k == "compat_vs_native_max_abs_diff"}}
            summary["flash_check"] = fc
        if "helper_overhead" in report:
            summary["helper_overhead"] = report["helper_overhead"]
    # every patched/unpatched ratio measured, pooled (geometric mean) per stage
    pooled = {}
    for name, per_attn in summary["timing"].items():
        for attn, rows in per_attn.items():
            for st, row in rows.items():
                if st == "total" and not all(x in rows for x in CORE_STAGES):
                    continue  # a stage-1-only run's total is not the pipeline's
                pooled.setdefault(st, []).append(row["ratio"])
    summary["time_ratio_geomean_all_measurements"] = {
        st: {"geomean": math.exp(sum(math.log(x) for x in xs) / len(xs)), "min": min(xs), "max": max(xs), "n": len(xs)}
        for st, xs in pooled.items()}
    first = next(iter(sources.values()))
    any_worker = next((w for e in first.get("attn", {}).values() for w in e.get("workers", {}).values() if "torch" in w), {})
    summary["environment"] = {k: any_worker.get(k) for k in ("device_name", "torch", "python", "spconv", "stubbed", "params", "sizes", "info")}
    out = {"summary": summary, "sources": sources}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", args.out)
    if args.plot and args.plot_source in sources:
        plot_stage_times(sources[args.plot_source], args.plot, args.plot_source)
        print("wrote", args.plot)
    if args.plot_source in sources:
        print(markdown_tables(sources[args.plot_source]))
    return 0


def markdown_tables(report):
    """The per-stage table of docs/gpu.md for one report (one table per ATTN_BACKEND)."""
    def gib(b):
        return "%.2f GiB" % (b / 2 ** 30) if b else "-"

    lines = []
    for attn, entry in report["attn"].items():
        t = entry.get("timing", {})
        if "patched" not in t or "unpatched" not in t:
            continue
        cmp = entry.get("compare", {}).get("patched_vs_unpatched", {"stages": {}, "outputs": {}})
        n = tuple(t[tree].get("n_runs") or len(entry["workers"][tree].get("runs", [])) for tree in ("patched", "unpatched"))
        lines += ["", "ATTN_BACKEND=%s (median of %s patched / %s unpatched timed runs)" % (attn, n[0], n[1]), "",
                  "| stage | patched ms | unpatched ms | ratio | peak mem patched | peak mem unpatched | max abs diff (run-to-run) | outputs |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for st in list(STAGES) + ["total"]:
            p, u = t["patched"]["median_ms"].get(st), t["unpatched"]["median_ms"].get(st)
            if p is None or u is None:
                continue
            if st == "total":
                pp, pu = t["patched"]["peak_bytes"], t["unpatched"]["peak_bytes"]
                diff, verdict = "", ""
            else:
                pp, pu = t["patched"]["stage_peak_bytes"].get(st), t["unpatched"]["stage_peak_bytes"].get(st)
                sv = cmp["stages"].get(st, {})
                if sv.get("length_diffs"):
                    spreads = {k: cmp["outputs"][k].get("run_to_run_length_spread") for k in sv["length_diffs"]}
                    diff = "; ".join("%s %+d rows (run-to-run spread %s)" % (k.split("/")[1], v, spreads[k])
                                     for k, v in sorted(sv["length_diffs"].items()) if k.endswith(("faces", "vertices")))
                elif sv.get("max_abs") is not None:
                    floor = sv.get("run_to_run_max_abs")
                    diff = "%.3g (%s)" % (sv["max_abs"], "%.3g" % floor if floor is not None else "-")
                else:
                    diff = "-"
                verdict = _verdict(sv) if sv else "-"
            lines.append("| %s | %.1f | %.1f | %.3f | %s | %s | %s | %s |" % (st, p, u, p / u, gib(pp), gib(pu), diff, verdict))
        for cname, c in entry.get("compare", {}).items():
            if cname == "patched_vs_unpatched":
                continue
            lines += ["", "%s: %s" % (cname, "; ".join(
                "%s %s%s" % (st, _verdict(sv), " (max abs %.3g)" % sv["max_abs"] if sv.get("max_abs") else "")
                for st, sv in c["stages"].items()))]
    return "\n".join(lines)


def plot_stage_times(report, path, label):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attns = [a for a, e in report["attn"].items() if "patched" in e.get("timing", {}) and "unpatched" in e["timing"]]
    fig, axes = plt.subplots(1, len(attns), figsize=(6.5 * len(attns), 4.6), squeeze=False)
    for ax, attn in zip(axes[0], attns):
        t = report["attn"][attn]["timing"]
        stages = [st for st in STAGES if t["patched"]["median_ms"].get(st) is not None]
        xs = range(len(stages))
        for off, tree, color in ((-0.2, "unpatched", "#8c8c8c"), (0.2, "patched", "#1f77b4")):
            med = [t[tree]["median_ms"][st] for st in stages]
            runs = t[tree].get("all_ms") or []
            lo = [med[i] - min(r[st] for r in runs) if runs else 0 for i, st in enumerate(stages)]
            hi = [max(r[st] for r in runs) - med[i] if runs else 0 for i, st in enumerate(stages)]
            ax.bar([x + off for x in xs], med, width=0.4, color=color, label="%s (median, min-max)" % tree,
                   yerr=[lo, hi], capsize=3)
        for i, st in enumerate(stages):
            r = t["patched"]["median_ms"][st] / t["unpatched"]["median_ms"][st]
            ax.text(i, max(t["patched"]["median_ms"][st], t["unpatched"]["median_ms"][st]) * 1.35, "x%.3f" % r,
                    ha="center", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(stages, rotation=15)
        ax.set_ylabel("wall time per sample, ms (log)")
        ax.set_title("ATTN_BACKEND=%s" % attn)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("SAM 3D Objects stack on one H200, random weights at released sizes: patched vs unpatched (%s)" % label,
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", help="patched sam3d_objects package dir (or its parent)")
    ap.add_argument("--tree-unpatched", help="unpatched sam3d_objects package dir, the reference")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tree (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (compilation, autotuning)")
    ap.add_argument("--attn", choices=["torch_flash_attn", "sdpa", "both"], default="both")
    ap.add_argument("--force-fallback", action="store_true",
                    help="also run the patched tree with SAM3D_CODEMOD_FORCE_FALLBACK=1 and compare")
    ap.add_argument("--fallback-runs", type=int, default=1)
    ap.add_argument("--out", help="write the JSON report here")
    ap.add_argument("--tiny", action="store_true", help="toy sizes, for developing on a CPU")
    ap.add_argument("--steps", type=int, default=0, help="override the number of flow steps (both stages)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rtol", type=float, default=1.6e-2, help="allclose rtol (two bf16 ulps)")
    ap.add_argument("--atol-frac", type=float, default=1e-2, help="allclose atol as a fraction of max|reference|")
    ap.add_argument("--keep", action="store_true", help="keep the output dumps in the temp dir")
    ap.add_argument("--flash-check-cpu", action="store_true", help="run the flash-restriction check on CPU too")
    ap.add_argument("--no-flash-check", action="store_true", help="skip the flash-restriction check")
    ap.add_argument("--deterministic", action="store_true",
                    help="torch.use_deterministic_algorithms(True, warn_only=True) in every worker")
    ap.add_argument("--save-ply", metavar="DIR",
                    help="each worker saves its first sample's splat (the tree's Gaussian.save_ply) and mesh here, "
                         "and loads the splat back")
    ap.add_argument("--image", help="condition on this image (scripts/gpu_e2e.py: the tree's DINOv2 embedder, "
                                    "random weights, via torch.hub source=local) instead of random tokens")
    ap.add_argument("--mask", help="with --image: its object mask (a PNG; nonzero alpha/value = object)")
    ap.add_argument("--dino-hub", help=argparse.SUPPRESS)
    ap.add_argument("--deadline-s", type=float, default=0,
                    help="stop starting workers (and kill a running one) this many seconds after the start")
    ap.add_argument("--min-child-s", type=float, default=45, help="don't start a worker with less time left")
    ap.add_argument("--append", action="store_true", help="merge into an existing --out report")
    ap.add_argument("--collect", nargs="+", metavar="NAME=REPORT[,LOG]",
                    help="merge reports of earlier runs into --out (no GPU, no torch), with a summary")
    ap.add_argument("--plot", help="with --collect: write the per-stage time plot here")
    ap.add_argument("--plot-source", help="with --collect: which NAME to plot")
    ap.add_argument("--helper-report", action="store_true",
                    help="count _torch_compat helper calls per sample and time each helper against the native call")
    ap.add_argument("--no-pipeline", action="store_true", help="with --helper-report: only that")
    ap.add_argument("--full-depth", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--count-helpers", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--helper-bench", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stop-after", choices=["ss_decoder"],
                    help="run stage 1 and the sparse-structure decoder only (dense modules; no sparse convs)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="worker processes per tree and backend, in A B B A order; their timed runs are pooled")
    # worker-only
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--flash-check", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    ap.add_argument("--stub-extra", default="", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.collect:
        if not args.out:
            raise SystemExit("--collect needs --out")
        return collect(args)
    if not args.tree:
        raise SystemExit("--tree is required")
    if args.worker:
        return worker(args)
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main())
