"""Import stub for ``timm.models.vision_transformer`` (tests/runtime only; see test_realtree_runtime.py).

``Block`` is put in an ``nn.ModuleList`` when PointPatchEmbed is built, so it must be a Module;
the stand-in is an identity (the tests only run ``embed_pointmap_windows``, before any block).
"""
import torch


class Block(torch.nn.Identity):
    def __init__(self, *args, **kwargs):
        super().__init__()
