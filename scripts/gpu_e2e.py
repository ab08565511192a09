#!/usr/bin/env python3
"""Condition stage for scripts/gpu_smoke.py: an example image and its mask through the tree's own
DINOv2 embedder, loaded with ``torch.hub.load(..., source="local")`` from a hub dir we write.

What this adds to the generation-stack smoke test (see docs/gpu_e2e.md for what it still lacks):

* ``write_hub(DIR)`` writes a torch-hub directory whose ``hubconf.py`` builds DINOv2 ViT-L/14 with
  4 registers (``dinov2_vitl14_reg``: 1024 wide, 24 blocks, 16 heads, MLP ratio 4, LayerScale,
  patch 14, positional embedding for 518 px = 37 x 37 patches, bicubic interpolation to other
  sizes) with random weights, and the interface the tree's
  ``model/backbone/dit/embedder/dino.py`` uses: ``embed_dim``, ``patch_embed.patch_size``,
  ``forward_features`` returning ``x_norm_clstoken``, ``x_norm_patchtokens``, ``x_prenorm``.
  It is our own code (the published architecture; nothing is copied). No download: weights are
  drawn from torch's generator, seeded by the caller.
* ``condition_tokens(tree_dino_cls, image, mask, hub, device)`` runs the tree's ``Dino`` twice
  (stage 1: normed features, stage 2: ``prenorm_features=True``) on the four inputs the pipeline
  embeds: full image, full mask, and both cropped to the mask's bounding box (padded to a square).
  The tokens are concatenated into the condition the stack gets: 4 x (1 + 37^2) = 5480 tokens for
  stage 1 and 4 x (1 + 4 + 37^2) = 5496 for stage 2, 1024 wide (DINOv2-L's width equals the flow
  models' condition width, so no projection is needed; the released ``EmbedderFuser`` projects
  each input with its own learned layers, not run here).

CPU check at toy size (no GPU needed)::

    python scripts/gpu_e2e.py --selftest
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HUBCONF = '''"""DINOv2 with registers, ViT-L/14 (random weights). Written by sam3d-codemod scripts/gpu_e2e.py."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

dependencies = ["torch"]


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, dim):
        super().__init__()
        self.patch_size = (patch_size, patch_size)
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class LayerScale(nn.Module):
    def __init__(self, dim, init=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x):
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoVisionTransformer(nn.Module):
    def __init__(self, img_size=518, patch_size=14, embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0,
                 num_register_tokens=4):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        grid = img_size // patch_size
        self.cls_token = nn.Parameter(torch.randn(1, 1, embed_dim) * 1e-6)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid * grid, embed_dim) * 0.02)
        self.register_tokens = nn.Parameter(torch.randn(1, num_register_tokens, embed_dim) * 1e-6)
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def interpolate_pos_encoding(self, h, w):
        n = self.pos_embed.shape[1] - 1
        gh, gw = h // self.patch_size, w // self.patch_size
        if gh * gw == n:
            return self.pos_embed
        side = int(math.sqrt(n))
        patch = self.pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], patch.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)], dim=1)

    def forward_features(self, x):
        b, _, h, w = x.shape
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1) + self.interpolate_pos_encoding(h, w)
        x = torch.cat([x[:, :1], self.register_tokens.expand(b, -1, -1), x[:, 1:]], dim=1)
        for blk in self.blocks:
            x = blk(x)
        normed = self.norm(x)
        r = 1 + self.num_register_tokens
        return {"x_norm_clstoken": normed[:, 0], "x_norm_regtokens": normed[:, 1:r],
                "x_norm_patchtokens": normed[:, r:], "x_prenorm": x, "masks": None}

    def forward(self, x):
        return self.forward_features(x)["x_norm_clstoken"]


def dinov2_vitl14_reg(pretrained=False, **kwargs):
    assert not pretrained, "random weights only: this hub dir has no checkpoints"
    return DinoVisionTransformer(**kwargs)
'''


def write_hub(path) -> Path:
    """A torch-hub directory (``source="local"``) providing ``dinov2_vitl14_reg``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "hubconf.py").write_text(HUBCONF)
    return path


def load_example(image_path, mask_path):
    """Image (H, W, 3 uint8) and boolean mask as ``notebook/inference.py``'s load_image / load_mask read them."""
    import numpy as np
    from PIL import Image

    image = np.array(Image.open(image_path)).astype(np.uint8)
    mask = np.array(Image.open(mask_path)).astype(np.uint8) > 0
    if mask.ndim == 3:
        mask = mask[..., -1]
    return image[..., :3], mask


def _square_crop_box(mask):
    import numpy as np

    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(y1 - y0, x1 - x0)
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    return int(cy - side // 2), int(cx - side // 2), int(side)


def condition_inputs(image, mask, device):
    """The four images the pipeline embeds, as float tensors in [0, 1]: full image, full mask,
    image and mask cropped to the mask's bounding box (a square around it, zero padded)."""
    import torch
    import torch.nn.functional as F

    img = torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)[None].to(device)
    msk = torch.from_numpy(mask.astype("float32"))[None, None].to(device)
    y, x, side = _square_crop_box(mask)
    h, w = mask.shape
    pad = (max(0, -x), max(0, x + side - w), max(0, -y), max(0, y + side - h))
    y, x = y + pad[2], x + pad[0]

    def crop(t):
        return F.pad(t, pad)[..., y:y + side, x:x + side]

    return {"image": img * msk + (1 - msk) * 0.0, "mask": msk,
            "image_crop": crop(img * msk), "mask_crop": crop(msk)}


def build_dino(dino_cls, hub, prenorm, input_size, seed, **kwargs):
    """The tree's Dino embedder, its backbone from ``hub`` through torch.hub (random weights, seeded)."""
    import torch

    torch.manual_seed(seed)
    return dino_cls(input_size=input_size, repo_or_dir=str(hub), dino_model="dinov2_vitl14_reg", source="local",
                    prenorm_features=prenorm, backbone_kwargs=kwargs or None)


def make_condition(dino_cls, image, mask, hub, device, seed=0, input_size=518, **backbone_kwargs):
    """Build the two embedders once (the same random backbone: stage 1 normed features, stage 2
    prenorm features) and return a function giving (stage-1 tokens, stage-2 tokens) of the four inputs."""
    import torch

    inputs = condition_inputs(image, mask, device)
    dinos = [build_dino(dino_cls, hub, prenorm, input_size, seed, **backbone_kwargs).to(device)
             for prenorm in (False, True)]

    def run():
        with torch.no_grad():
            return tuple(torch.cat([dino(v.clone()) for v in inputs.values()], dim=1).float() for dino in dinos)

    return run


def condition_tokens(dino_cls, image, mask, hub, device, seed=0, input_size=518, **backbone_kwargs):
    """(stage-1 tokens, stage-2 tokens); see make_condition."""
    return make_condition(dino_cls, image, mask, hub, device, seed, input_size, **backbone_kwargs)()


def _selftest():
    """CPU, toy widths: the hub loads through torch.hub source=local, the tree's Dino accepts it,
    token counts are those of the released layout."""
    import tempfile

    import numpy as np
    import torch

    class _Dino(torch.nn.Module):  # the tree's Dino is not needed for the hub-only part
        def __init__(self, input_size, repo_or_dir, dino_model, source, prenorm_features, backbone_kwargs=None):
            super().__init__()
            self.backbone = torch.hub.load(repo_or_dir, dino_model, source=source, **(backbone_kwargs or {}))
            self.prenorm = prenorm_features
            self.size = input_size

        def forward(self, x):
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear")
            if x.shape[1] == 1:
                x = x.repeat(1, 3, 1, 1)
            o = self.backbone.forward_features(x)
            if self.prenorm:
                return torch.nn.functional.layer_norm(o["x_prenorm"], o["x_prenorm"].shape[-1:])
            return torch.cat([o["x_norm_clstoken"][:, None], o["x_norm_patchtokens"]], 1)

    with tempfile.TemporaryDirectory() as d:
        hub = write_hub(d)
        image = np.random.RandomState(0).randint(0, 255, (40, 60, 3)).astype(np.uint8)
        mask = np.zeros((40, 60), bool)
        mask[5:20, 10:40] = True
        a, b = condition_tokens(_Dino, image, mask, hub, "cpu", input_size=56, embed_dim=32, depth=2, num_heads=4)
        assert a.shape == (1, 4 * (1 + 16), 32) and b.shape == (1, 4 * (1 + 4 + 16), 32), (a.shape, b.shape)
        a2, _ = condition_tokens(_Dino, image, mask, hub, "cpu", input_size=56, embed_dim=32, depth=2, num_heads=4)
        assert torch.equal(a, a2)
    print("gpu_e2e selftest: ok", tuple(a.shape), tuple(b.shape))
    return 0


STAGE_ORDER = ("condition", "ss_flow", "ss_decoder", "slat_flow", "gs_decoder", "mesh_decoder")


def pool(reports, attn="torch_flash_attn"):
    """Pool the timed runs of gpu_smoke reports: per tree and stage the median over every timed run
    of every worker (a tree's rounds and the reports together), the peak memory, and the verdicts of
    every patched-vs-unpatched comparison. Returns (rows, per-report total ratios)."""
    import json
    import statistics

    runs = {"patched": [], "unpatched": []}
    peaks = {"patched": {}, "unpatched": {}}
    verdicts, totals = {}, []
    for path in reports:
        entry = json.loads(Path(path).read_text())["attn"][attn]
        for tree in runs:
            t = entry["timing"].get(tree)
            if not t:
                continue
            for r in t["all_ms"]:
                runs[tree].append(dict(r, total=sum(r.values())))
            for st, b in t["stage_peak_bytes"].items():
                peaks[tree][st] = max(peaks[tree].get(st, 0), b)
        if entry["timing"].get("patched") and entry["timing"].get("unpatched"):
            totals.append(entry["timing"]["patched"]["median_ms"]["total"]
                          / entry["timing"]["unpatched"]["median_ms"]["total"])
        for name, cmp in entry["compare"].items():
            for st, row in cmp["stages"].items():
                verdict = ("bitwise" if row.get("exact") else "allclose" if row.get("equal")
                           else "within run-to-run noise" if row.get("within_noise") else "DIFFERS")
                verdicts.setdefault(st, set()).add("%s: %s" % (name.split("_vs_")[0], verdict))
    rows = []
    for st in STAGE_ORDER + ("total",):
        p = [r[st] for r in runs["patched"] if st in r]
        u = [r[st] for r in runs["unpatched"] if st in r]
        if not p or not u:
            continue
        mp, mu = statistics.median(p), statistics.median(u)
        rows.append({"stage": st, "patched_ms": mp, "unpatched_ms": mu, "ratio": mp / mu, "n": (len(p), len(u)),
                     "peak_patched": max(peaks["patched"].values()) if st == "total" else peaks["patched"].get(st),
                     "peak_unpatched": max(peaks["unpatched"].values()) if st == "total" else peaks["unpatched"].get(st),
                     "equal": sorted(verdicts.get(st, ()))})
    return rows, totals


def print_pool(reports):
    rows, totals = pool(reports)
    gib = 1024.0 ** 3
    print("| stage | patched ms | unpatched ms | ratio | peak memory patched / unpatched | equal |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        eq = "; ".join(r["equal"]) if r["equal"] else ""
        print("| %s | %.1f | %.1f | %.3f | %.2f / %.2f GiB | %s |" % (
            r["stage"], r["patched_ms"], r["unpatched_ms"], r["ratio"], r["peak_patched"] / gib,
            r["peak_unpatched"] / gib, eq))
    n = rows[-1]["n"] if rows else (0, 0)
    print("\ntimed runs pooled: %d patched, %d unpatched; per-report total ratios: %s" % (
        n[0], n[1], ", ".join("%.3f" % x for x in totals)))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-hub", metavar="DIR")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--pool", nargs="+", metavar="REPORT", help="pooled table of gpu_smoke reports (no torch needed)")
    args = ap.parse_args(argv)
    if args.pool:
        return print_pool(args.pool)
    if args.write_hub:
        print(write_hub(args.write_hub))
        return 0
    if args.selftest:
        return _selftest()
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
