"""A torch-hub directory (``source="local"``) providing DINOv2 ViT-L/14 with registers, random weights.

The pipeline's condition embedder (``model/backbone/dit/embedder/dino.py``) loads its backbone with
``torch.hub.load(repo_or_dir, "dinov2_vitl14_reg", source="local")``. The released weights are not
ours to ship and a download is not wanted, so ``write_hub(DIR)`` writes a ``hubconf.py`` that builds
the published architecture (1024 wide, 24 blocks, 16 heads, MLP ratio 4, LayerScale, patch 14, 4
registers, a positional embedding for 518 px = 37 x 37 patches, bicubic interpolation to other
sizes) with the interface ``dino.py`` uses: ``embed_dim``, ``patch_embed.patch_size``,
``forward_features`` returning ``x_norm_clstoken``, ``x_norm_patchtokens``, ``x_prenorm``. It is our
own code; the workspace's random-weight checkpoints then overwrite every parameter.
"""
from __future__ import annotations

from pathlib import Path

HUBCONF = '''"""DINOv2 with registers, ViT-L/14 (random weights). Written by sam3d-codemod inference_e2e/dinov2_hub.py."""
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
