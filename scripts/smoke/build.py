"""Build the generation stack from a tree's own classes, with seeded random weights."""
from __future__ import annotations

import math
import zlib

from scripts.smoke.constants import PIPELINE


def randomize_(module, seed, gain=1.0):
    """Deterministic random weights: the same parameter name gets the same values in every tree.

    Upstream zero-inits adaLN gates and output layers; with those zeros most of the network would
    not run at all, so every parameter is redrawn: matrices N(0, gain^2/fan_in), norm scales
    1 + N(0, 0.1^2), biases N(0, 0.02^2).
    """
    import torch

    with torch.no_grad():
        for name, p in module.named_parameters():
            g = torch.Generator(device=p.device).manual_seed((seed * 1000003 + zlib.crc32(name.encode())) % (2 ** 63))
            noise = torch.randn(p.shape, generator=g, device=p.device, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "gamma" or (p.dim() == 1 and leaf == "weight"):
                vals = 1.0 + 0.1 * noise
            elif p.dim() >= 2:
                vals = noise * (gain / math.sqrt(p[0].numel()))
            else:
                vals = 0.02 * noise
            p.copy_(vals.to(p.dtype))


def weights_checksum(modules):
    total = 0.0
    for m in modules:
        for p in m.parameters():
            total += float(p.detach().double().abs().sum())
    return total


def build_stack(S, device, seed):
    """Construct the five modules from the tree's classes (constructor args as in the released configs)."""
    from functools import partial

    import torch
    from sam3d_objects.model.backbone.generator.shortcut.model import ShortCut
    from sam3d_objects.model.backbone.generator.flow_matching.model import FlowMatching, lognorm_sampler
    from sam3d_objects.model.backbone.generator.classifier_free_guidance import (
        ClassifierFreeGuidance,
        ClassifierFreeGuidanceWithExternalUnconditionalProbability,
    )
    from sam3d_objects.model.backbone.tdfy_dit.models.mot_sparse_structure_flow import SparseStructureFlowTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.mm_latent import (
        Latent, LearntPositionEmbedder, ShapePositionEmbedder,
    )
    from sam3d_objects.model.backbone.tdfy_dit.models.sparse_structure_vae import SparseStructureDecoderTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.structured_latent_flow import SLatFlowModelTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.structured_latent_vae.decoder_gs import SLatGaussianDecoderTdfyWrapper
    from sam3d_objects.model.backbone.tdfy_dit.models.structured_latent_vae.decoder_mesh import SLatMeshDecoderTdfyWrapper

    C = S["ss_channels"]
    with torch.device(device):
        latent_mapping = {
            "6drotation_normalized": Latent(6, C, LearntPositionEmbedder(C, 1)),
            "scale": Latent(3, C, LearntPositionEmbedder(C, 1)),
            "shape": Latent(S["ss_latent"], C, ShapePositionEmbedder(C, resolution=S["ss_res"], patch_size=1)),
            "translation": Latent(3, C, LearntPositionEmbedder(C, 1)),
            "translation_scale": Latent(1, C, LearntPositionEmbedder(C, 1)),
        }
        ss_backbone = SparseStructureFlowTdfyWrapper(
            latent_mapping=latent_mapping,
            latent_share_transformer={"6drotation_normalized": [
                "6drotation_normalized", "translation", "scale", "translation_scale"]},
            cond_channels=S["cond_channels"], condition_embedder=None, force_zeros_cond=True,
            freeze_d_time_embedder=True, freeze_shared_parameters=True, in_channels=S["ss_latent"],
            is_shortcut_model=True, mlp_ratio=4, model_channels=C, num_blocks=S["ss_blocks"],
            num_heads=S["ss_heads"], out_channels=S["ss_latent"], patch_size=1, pe_mode="ape",
            qk_rms_norm=True, resolution=S["ss_res"], use_checkpoint=False, use_fp16=False,
        )
        ss_generator = ShortCut(
            reverse_fn=ClassifierFreeGuidanceWithExternalUnconditionalProbability(
                backbone=ss_backbone, interval=PIPELINE["ss_cfg_interval"], p_unconditional=0.1,
                strength=PIPELINE["ss_cfg_strength"], unconditional_handling="add_flag",
            ),
            batch_mode=True, cfg_modalities=["shape"], inference_steps=S["steps"],
            rescale_t=PIPELINE["ss_rescale_t"], sigma_min=0.0, time_scale=1000.0,
            self_consistency_cfg_strength=2.0, self_consistency_prob=0.25, shortcut_loss_weight=1.0,
            ratio_cfg_samples_in_self_consistency_target=0.25,
            training_time_sampler_fn=partial(lognorm_sampler, mean=-1.0, std=1.0),
        )
        # the pipeline's default (non-distilled) path: no shortcut step, CFG on
        ss_generator.no_shortcut = True
        ss_decoder = SparseStructureDecoderTdfyWrapper(
            out_channels=1, latent_channels=S["ss_latent"], num_res_blocks=S["ss_dec_res_blocks"],
            num_res_blocks_middle=2, channels=S["ss_dec_channels"], reshape_input_to_cube=False,
        )
        slat_backbone = SLatFlowModelTdfyWrapper(
            cond_channels=S["cond_channels"], condition_embedder=None, force_zeros_cond=True,
            in_channels=8, io_block_channels=S["slat_io"], mlp_ratio=4, model_channels=S["slat_channels"],
            num_blocks=S["slat_blocks"], num_heads=S["slat_heads"], num_io_res_blocks=2, out_channels=8,
            patch_size=2, pe_mode="ape", qk_rms_norm=True, resolution=S["slat_res"], use_fp16=True,
        )
        slat_generator = FlowMatching(
            reverse_fn=ClassifierFreeGuidance(
                backbone=slat_backbone, p_unconditional=0.0, strength=PIPELINE["slat_cfg_strength"],
                unconditional_handling="add_flag", interval=PIPELINE["slat_cfg_interval"],
            ),
            inference_steps=S["steps"], rescale_t=PIPELINE["slat_rescale_t"], sigma_min=0.0,
            time_scale=1000.0, training_time_sampler_fn=partial(lognorm_sampler, mean=-1.0, std=1.0),
        )
        rep_gs = {
            "lr": {"_xyz": 1.0, "_features_dc": 1.0, "_opacity": 1.0, "_scaling": 1.0, "_rotation": 0.1},
            "perturb_offset": True, "voxel_size": 1.5, "num_gaussians": 32,
            "2d_filter_kernel_size": 0.1, "3d_filter_kernel_size": 9e-4, "scaling_bias": 4e-3,
            "opacity_bias": 0.1, "scaling_activation": "softplus",
        }
        dec = dict(resolution=S["slat_res"], model_channels=S["dec_channels"], latent_channels=8,
                   num_blocks=S["dec_blocks"], num_heads=S["dec_heads"], mlp_ratio=4, attn_mode="swin",
                   window_size=S["dec_window"], use_fp16=True)
        gs_decoder = SLatGaussianDecoderTdfyWrapper(representation_config=rep_gs, **dec)
        mesh_decoder = SLatMeshDecoderTdfyWrapper(representation_config={"use_color": True},
                                                 device=str(device), **dec)
    models = dict(ss_generator=ss_generator, ss_decoder=ss_decoder, slat_generator=slat_generator,
                  gs_decoder=gs_decoder, mesh_decoder=mesh_decoder)
    for i, (name, m) in enumerate(sorted(models.items())):
        randomize_(m, seed + i)
        m.eval()
    return models
