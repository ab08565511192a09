"""Write the checkpoint workspace (configs, DINOv2 hub dir, random-weight checkpoints).

    python -m inference_e2e.make_workspace --tree CHECKOUT --out WS [--size tiny|full]

Builds the models with the classes of ``CHECKOUT`` (either tree: parameter names are the same).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inference_e2e import environment, workspace  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", choices=sorted(workspace.SIZES), default="full")
    ap.add_argument("--device", help="device the pipeline runs on (default: cuda if available)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--deps")
    args = ap.parse_args(argv)
    environment.prepare(args.tree, args.deps)
    import torch

    from inference_e2e.spconv_standin import install_spconv

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    environment.import_torchvision()
    install_spconv(device.split(":")[0])
    environment.pin_attention_backend("sdpa")
    t0 = time.perf_counter()
    config = workspace.write_configs(args.out, args.size, device)
    sums = workspace.write_checkpoints(args.out, args.seed, device="cuda" if device.startswith("cuda") else "cpu",
                                       occupied_voxels=workspace.SIZES[args.size].get("occupied_voxels"))
    report = {"pipeline": str(config), "size": args.size, "device": device, "seed": args.seed,
              "checkpoints": sums, "seconds": round(time.perf_counter() - t0, 1)}
    (Path(args.out) / "workspace.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
