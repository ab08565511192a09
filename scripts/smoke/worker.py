"""The worker process: one tree, its sample runs, its outputs saved for the parent."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from scripts.smoke.build import build_stack, weights_checksum
from scripts.smoke.constants import OPTIONAL_STUBS, SIZES
from scripts.smoke.stack import (LAST_OBJECTS, StageTimer, _sync, count_helper_calls, flash_check, helper_bench,
                                 run_sample, save_and_reload)
from scripts.smoke.stubs import gaussian_on_cpu, install_spconv, install_stubs


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
