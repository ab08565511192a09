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
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.smoke.collect import collect  # noqa: E402
from scripts.smoke.parent import main_parent  # noqa: E402
from scripts.smoke.worker import worker  # noqa: E402

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
