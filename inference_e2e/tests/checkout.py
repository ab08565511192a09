"""A checkout-shaped tree that runs the whole inference on CPU without GitHub (issue 17).

The PyPI tree (tests/realtree.py) as ``sam3d_objects/``, plus a ``notebook/inference.py`` and a
``demo.py`` that we wrote: the same public API and entry shapes as upstream's (``Inference(config,
compile)`` loads ``pipeline.yaml`` with OmegaConf, overrides ``rendering_engine``, ``compile_model``
and ``workspace_dir`` and instantiates it with hydra; calling it embeds the mask in the alpha
channel and runs ``InferencePipelinePointMap.run`` with the notebook's arguments; kaolin is
imported at the top of a script outside any package), and an example image and mask we draw.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.realtree import pristine_tree

INFERENCE = '''\
import os

os.environ["CUDA_HOME"] = os.environ["CONDA_PREFIX"]
os.environ["LIDRA_SKIP_INIT"] = "true"

import numpy as np
from PIL import Image
from omegaconf import OmegaConf
from hydra.utils import instantiate
import torch
from kaolin.visualize import IpyTurntableVisualizer
from kaolin.render.camera import Camera, PinholeIntrinsics
from pytorch3d.transforms import quaternion_multiply, quaternion_invert

import sam3d_objects
from sam3d_objects.pipeline.inference_pipeline_pointmap import InferencePipelinePointMap

__all__ = ["Inference"]


class Inference:
    def __init__(self, config_file, compile=False):
        config = OmegaConf.load(config_file)
        config.rendering_engine = "pytorch3d"
        config.compile_model = compile
        config.workspace_dir = os.path.dirname(config_file)
        self._pipeline: InferencePipelinePointMap = instantiate(config)

    def merge_mask_to_rgba(self, image, mask):
        alpha = (mask.astype(np.uint8) * 255)[..., None]
        return np.concatenate([image[..., :3], alpha], axis=-1)

    def __call__(self, image, mask, seed=None, pointmap=None):
        image = self.merge_mask_to_rgba(image, mask)
        return self._pipeline.run(image, None, seed, stage1_only=False, with_mesh_postprocess=False,
                                  with_texture_baking=False, with_layout_postprocess=True,
                                  use_vertex_color=True, stage1_inference_steps=None, pointmap=pointmap)


def load_image(path):
    return np.array(Image.open(path)).astype(np.uint8)


def load_mask(path):
    mask = load_image(path) > 0
    return mask[..., -1] if mask.ndim == 3 else mask


def load_single_mask(folder_path, index=0, extension=".png"):
    return load_mask(os.path.join(folder_path, "%d%s" % (index, extension)))
'''

DEMO = '''\
import sys

sys.path.append("notebook")
from inference import Inference, load_image, load_single_mask

inference = Inference("checkpoints/hf/pipeline.yaml", compile=False)
image = load_image("notebook/images/example/image.png")
mask = load_single_mask("notebook/images/example", index=0)
output = inference(image, mask, seed=42)
output["gs"].save_ply("splat.ply")
'''


def draw_example(folder: Path, width=256, height=192):
    """An RGB image (a lit ball on a gradient) and the ball's mask as ``0.png``."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, r = width * 0.55, height * 0.5, height * 0.3
    d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / r
    rgb = np.stack([x / width, y / height, 0.5 + 0 * x], axis=-1) * 200
    ball = d < 1
    shade = np.clip(1 - d, 0, 1)[..., None] * np.array([255, 120, 40])
    rgb[ball] = shade[ball]
    Image.fromarray(rgb.astype(np.uint8)).save(folder / "image.png")
    Image.fromarray((ball * 255).astype(np.uint8)).save(folder / "0.png")
    return folder / "image.png", folder / "0.png"


def inference_checkout(dest: Path) -> Path:
    shutil.copytree(pristine_tree(), dest / "sam3d_objects")
    (dest / "notebook").mkdir(parents=True)
    (dest / "notebook" / "inference.py").write_text(INFERENCE)
    (dest / "demo.py").write_text(DEMO)
    draw_example(dest / "notebook" / "images" / "example")
    return dest
