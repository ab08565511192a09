"""The condition stage of scripts/gpu_e2e.py on the CPU: the patched PyPI tree's own ``Dino``
embedder loads our DINOv2 hub dir through ``torch.hub.load(..., source="local")`` and embeds an
image and its mask at toy widths (the H200 run uses the released ViT-L/14 sizes, docs/gpu_e2e.md)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import ROOT, STUBS, probe_env

pytestmark = [pytest.mark.runtime, pytest.mark.realtree]

SCRIPT = r"""
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2], sys.argv[3]]
import numpy as np, torch
import gpu_e2e
from sam3d_objects.model.backbone.dit.embedder.dino import Dino
import sam3d_objects

hub = gpu_e2e.write_hub(sys.argv[4])
rng = np.random.RandomState(0)
image = rng.randint(0, 255, (30, 44, 3)).astype(np.uint8)
mask = np.zeros((30, 44), bool); mask[4:20, 30:44] = True      # touches the border: the crop pads
toy = dict(embed_dim=32, depth=2, num_heads=4)
a, b = gpu_e2e.condition_tokens(Dino, image, mask, hub, "cpu", seed=3, input_size=42, **toy)
a2, b2 = gpu_e2e.condition_tokens(Dino, image, mask, hub, "cpu", seed=3, input_size=42, **toy)
c, _ = gpu_e2e.condition_tokens(Dino, image, mask, hub, "cpu", seed=4, input_size=42, **toy)
d = gpu_e2e.build_dino(Dino, hub, False, 42, 3, **toy)
print(json.dumps({"tree": sam3d_objects.__file__, "a": list(a.shape), "b": list(b.shape),
                  "same_seed_equal": bool(torch.equal(a, a2) and torch.equal(b, b2)),
                  "other_seed_differs": not torch.equal(a, c), "finite": bool(torch.isfinite(a).all() and torch.isfinite(b).all()),
                  "backbone": type(d.backbone).__name__, "registers": d.backbone.num_register_tokens,
                  "patch": list(d.backbone.patch_embed.patch_size)}))
"""


def test_tree_dino_through_local_hub(patched_copy, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "scripts"), str(Path(patched_copy).parent), str(STUBS),
         str(tmp_path / "hub")],
        capture_output=True, text=True, timeout=300, env=probe_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["tree"]).resolve().parent == Path(patched_copy).resolve()
    # 42 px / patch 14 = 3 x 3 patches; four inputs (image, mask, both cropped)
    assert out["a"] == [1, 4 * (1 + 9), 32]          # stage 1: cls + patches, normed
    assert out["b"] == [1, 4 * (1 + 4 + 9), 32]      # stage 2: prenorm, cls + 4 registers + patches
    assert out["same_seed_equal"] and out["other_seed_differs"] and out["finite"]
    assert out["backbone"] == "DinoVisionTransformer" and out["registers"] == 4 and out["patch"] == [14, 14]
