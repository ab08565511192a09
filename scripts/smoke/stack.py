"""Run one sample through the stack stage by stage; the flash-only check; helper call counts."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path


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
    """Host-side cost of each helper against the native call the unpatched tree makes (microseconds):
    bench/helper_overhead.py's cases and timing (interleaved, best of 9) for the tree's three call sites."""
    from bench.helper_overhead import measure

    rows = measure(compat, number, repeat=9, only=("tree_map", "sdpa_kernel", "is_compiling"))
    return {name: {"native_us": row["native_us"], "helper_us": row["helper_us"], "overhead_us": row["added_us"]}
            for name, row in rows.items()}
