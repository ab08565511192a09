"""One process, one tree: ``Inference(pipeline.yaml)(image, mask, seed=42, pointmap=...)`` as demo.py runs it.

    python -m inference_e2e.worker --tree CHECKOUT --workspace WS --image I --mask M --out R.json

``CHECKOUT`` is a full upstream-shaped checkout (``sam3d_objects/`` and ``notebook/inference.py``),
patched or not. The first call is the equality run (stage digests, outputs saved and, in a patched
tree, the ``_torch_compat`` helper calls counted); the next ``--runs`` calls are timed without
digests or counters. ``--attn`` pins the dense attention backend before the pipeline can choose one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inference_e2e import environment, helpers, stages  # noqa: E402


def synthetic_pointmap(height, width, mask, focal_frac=0.8, depth=2.5):
    """An (H, W, 3) point map in the pipeline's camera frame (PyTorch3D: x left, y up, z forward).

    A fronto-parallel wall at ``depth`` with a half-sphere bulging out of it where the mask is, seen
    by a pinhole camera of focal ``focal_frac * max(H, W)``: our stand-in for MoGe's output, which
    ``Inference(...)(..., pointmap=...)`` takes instead of running the depth model.
    """
    import torch

    m = torch.as_tensor(mask, dtype=torch.bool)
    f = focal_frac * max(height, width)
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 0.5,
                          torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij")
    z = torch.full((height, width), float(depth))
    if m.any():
        ys, xs = torch.nonzero(m, as_tuple=True)
        cy, cx = ys.float().mean(), xs.float().mean()
        r = max(float((ys.max() - ys.min() + 1).item()), float((xs.max() - xs.min() + 1).item())) / 2
        d2 = ((v - cy) ** 2 + (u - cx) ** 2) / (r * r)
        bulge = (1 - d2).clamp(min=0).sqrt() * (r / f) * depth
        z = torch.where(m, z - bulge, z)
    x = -(u - width / 2) * z / f
    y = -(v - height / 2) * z / f
    return torch.stack([x, y, z], dim=-1)


def load_inputs(module, image_path, mask_path):
    image = module.load_image(image_path)
    mask = module.load_mask(mask_path)
    return image, mask


def final_tensors(output):
    """The outputs a user keeps, as named CPU tensors (splat, mesh, pose, point map)."""
    import numpy as np
    import torch

    out = {}
    for key in ("translation", "rotation", "scale", "coords", "downsample_factor", "pointmap", "pointmap_colors"):
        value = output.get(key)
        if isinstance(value, torch.Tensor):
            out[key] = value.detach().cpu()
        elif isinstance(value, (int, float)):
            out[key] = torch.tensor(value)
    gs = output.get("gs")
    if gs is not None:
        for attr in ("_xyz", "_features_dc", "_scaling", "_rotation", "_opacity"):
            out["gs" + attr] = getattr(gs, attr).detach().cpu()
    mesh = (output.get("mesh") or [None])[0]
    if mesh is not None:
        out["mesh.vertices"] = mesh.vertices.detach().cpu()
        out["mesh.faces"] = mesh.faces.detach().cpu()
        if mesh.vertex_attrs is not None:
            out["mesh.vertex_attrs"] = mesh.vertex_attrs.detach().cpu()
    glb = output.get("glb")
    if glb is not None:
        out["glb.vertices"] = torch.from_numpy(np.asarray(glb.vertices).copy())
        out["glb.faces"] = torch.from_numpy(np.asarray(glb.faces).copy())
    return out


def save_and_reload(output, directory, tag):
    """``output["gs"].save_ply`` as demo.py does, read back with the tree's own ``load_ply``; glb export."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    info = {}
    gs = output["gs"]
    ply = directory / ("%s_splat.ply" % tag)
    t0 = time.perf_counter()
    gs.save_ply(str(ply))
    info["ply"] = {"path": str(ply), "bytes": ply.stat().st_size, "save_s": round(time.perf_counter() - t0, 3)}
    back = type(gs)(**gs.init_params) if hasattr(gs, "init_params") else None
    if back is not None:
        back.load_ply(str(ply))
        checks = {}
        for name in ("get_xyz", "get_features", "get_rotation", "get_opacity", "get_scaling"):
            a, b = getattr(gs, name).detach().float().cpu(), getattr(back, name).detach().float().cpu()
            checks[name] = {"shape_equal": list(a.shape) == list(b.shape),
                            "max_abs_diff": float((a - b).abs().max()) if a.shape == b.shape else None}
        info["ply"]["load_back"] = checks
        info["ply"]["gaussians"] = int(back.get_xyz.shape[0])
    glb = output.get("glb")
    if glb is not None:
        path = directory / ("%s_mesh.glb" % tag)
        glb.export(str(path))
        import trimesh

        again = trimesh.load(str(path), force="mesh")
        info["glb"] = {"path": str(path), "bytes": path.stat().st_size, "vertices": int(len(glb.vertices)),
                       "faces": int(len(glb.faces)), "reloaded_vertices": int(len(again.vertices)),
                       "reloaded_faces": int(len(again.faces))}
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", required=True, help="checkout root holding sam3d_objects/ and notebook/")
    ap.add_argument("--workspace", required=True, help="folder with pipeline.yaml (inference_e2e.run)")
    ap.add_argument("--image", required=True)
    ap.add_argument("--mask", required=True)
    ap.add_argument("--out", required=True, help="result JSON")
    ap.add_argument("--save-dir", help="write the splat .ply and mesh .glb here, and the outputs .pt")
    ap.add_argument("--tag", default="run")
    ap.add_argument("--deps", help="folder of pure-python sources (pytorch3d, utils3d, moge) for sys.path")
    ap.add_argument("--runs", type=int, default=1, help="timed calls after the equality call")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--attn", default="torch_flash_attn",
                    help="dense attention backend; on a CPU the CUDA-only ones (%s) run as sdpa"
                         % ", ".join(environment.CUDA_ONLY_ATTN))
    ap.add_argument("--helper-cost", action="store_true",
                    help="patched tree: also time each helper against its native call (bench/helper_overhead.py)")
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--kaolin-stand-in", action="store_true",
                    help="put the kaolin stand-in on sys.path (an unpatched tree cannot import without kaolin)")
    args = ap.parse_args(argv)

    environment.prepare(args.tree, args.deps, kaolin=args.kaolin_stand_in)
    import torch

    from inference_e2e.spconv_standin import install_spconv

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    result = {"tree": str(Path(args.tree).resolve()), "torch": torch.__version__, "python": sys.version.split()[0],
              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "force_fallback_env": os.environ.get("SAM3D_CODEMOD_FORCE_FALLBACK")}
    result["torchvision_shim"] = environment.import_torchvision()
    result["spconv"] = install_spconv(device.type)
    result["attention"] = environment.pin_attention_backend(environment.attn_for_device(args.attn, device.type))
    result["attention"]["requested"] = args.attn
    result["cpu_shims"] = environment.cpu_shims() if device.type == "cpu" else []

    t0 = time.perf_counter()
    import inference as notebook  # notebook/inference.py, as demo.py imports it

    assert Path(notebook.__file__).resolve().parent == (Path(args.tree) / "notebook").resolve(), notebook.__file__
    try:
        from sam3d_objects import _torch_compat as compat
    except ImportError:
        compat = None
    result["patched"] = compat is not None
    result["force_fallback_active"] = bool(getattr(compat, "FORCE_FALLBACK", False))
    result["import_s"] = round(time.perf_counter() - t0, 3)
    if compat is not None and args.helper_cost:
        result["helper_cost_us"] = helpers.cost_per_call(compat)

    t0 = time.perf_counter()
    model = notebook.Inference(str(Path(args.workspace) / "pipeline.yaml"), compile=False)
    result["load_s"] = round(time.perf_counter() - t0, 3)
    pipeline = model._pipeline
    image, mask = load_inputs(notebook, args.image, args.mask)
    pointmap = synthetic_pointmap(image.shape[0], image.shape[1], mask)
    result["input"] = {"image": list(image.shape), "mask_pixels": int(mask.sum())}

    runs = []
    for i in range(1 + args.runs):
        rec = stages.Recorder(device, digests=(i == 0))
        result["stages_wrapped"] = stages.instrument(pipeline, rec)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        counter = helpers.CallCounter(compat) if (i == 0 and compat is not None) else None
        rec.enter("total")
        try:
            output = model(image, mask, seed=args.seed, pointmap=pointmap)
        finally:
            rec.leave(None)
            helper_calls = counter.restore() if counter is not None else None
        entry = {"times_s": rec.times, "calls": rec.calls, "errors": rec.errors, "peak_bytes": rec.peaks}
        if helper_calls is not None:
            entry["helper_calls"] = helper_calls
        if i == 0:
            entry["digests"] = rec.outputs
            final = final_tensors(output)
            entry["outputs"] = {"keys": sorted(output), "voxels": int(output["coords"].shape[0]),
                                "gaussians": int(output["gs"].get_xyz.shape[0]),
                                "final_digests": {k: stages.digest(v) for k, v in final.items()}}
            if args.save_dir:
                Path(args.save_dir).mkdir(parents=True, exist_ok=True)
                torch.save(final, Path(args.save_dir) / ("%s_outputs.pt" % args.tag))
                entry["saved"] = save_and_reload(output, args.save_dir, args.tag)
        runs.append(entry)
        del output
    result["runs"] = runs
    result["placeholders_imported"] = environment.placeholders_imported()
    result["origins"] = environment.origins()
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
