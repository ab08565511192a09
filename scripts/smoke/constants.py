"""Sizes, stages and the optional-stub list of the GPU smoke test (scripts/gpu_smoke.py)."""
from __future__ import annotations



# "condition" (DINOv2 on an example image, scripts/gpu_e2e.py) runs only with --image; the other five always.
STAGES = ("condition", "ss_flow", "ss_decoder", "slat_flow", "gs_decoder", "mesh_decoder")
CORE_STAGES = STAGES[1:]

# Packages the tree imports at module level but that the path run here never calls (renderers,
# mesh post-processing, pose utilities, checkpoint IO). Stubbed only where the real import fails.
OPTIONAL_STUBS = (
    "plyfile", "utils3d", "xatlas", "pyvista", "pymeshfix", "igraph", "trimesh", "open3d",
    "pytorch3d", "gsplat", "diff_gaussian_rasterization", "diffoctreerast", "nvdiffrast", "vox2seq",
    "astor", "scipy", "safetensors", "PIL", "cv2", "tqdm", "flash_attn", "xformers", "torchvision",
)

# Sizes. "full": the released SAM 3D Objects checkpoints (config names in docs/gpu.md).
SIZES = {
    "full": dict(
        ss_res=16, ss_latent=8, ss_channels=1024, ss_blocks=24, ss_heads=16, cond_channels=1024,
        ss_cond_tokens=4 * 1370,  # image + mask, cropped + full, DINOv2-L/14 at 518: cls + 37*37
        ss_dec_channels=[512, 128, 32], ss_dec_res_blocks=2,
        slat_res=64, slat_channels=1024, slat_blocks=24, slat_heads=16, slat_io=[128],
        slat_cond_tokens=4 * 1374,  # same inputs, prenorm features: cls + 4 registers + 37*37
        dec_channels=768, dec_blocks=12, dec_heads=12, dec_window=8,
        steps=25, max_coords=42000,
    ),
    "tiny": dict(
        ss_res=8, ss_latent=8, ss_channels=64, ss_blocks=2, ss_heads=4, cond_channels=64,
        ss_cond_tokens=32,
        ss_dec_channels=[32, 32, 32], ss_dec_res_blocks=1,
        slat_res=32, slat_channels=64, slat_blocks=2, slat_heads=4, slat_io=[32],
        slat_cond_tokens=32,
        dec_channels=256, dec_blocks=2, dec_heads=4, dec_window=4,
        steps=3, max_coords=800,
    ),
}
PIPELINE = dict(ss_cfg_strength=7.0, ss_cfg_interval=[0, 500], ss_rescale_t=3,
                slat_cfg_strength=5.0, slat_cfg_interval=[0, 500], slat_rescale_t=3)
