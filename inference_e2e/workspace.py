"""A checkpoint workspace for ``notebook/inference.py``'s ``Inference(config_file)``: our own configs,
random weights.

``write_configs(dir, size, device)`` writes ``pipeline.yaml`` and the five per-model yamls in the
pipeline's own hydra/OmegaConf format (``_target_`` nodes that ``hydra.utils.instantiate`` builds;
every target passes upstream's ``check_hydra_safety`` whitelist). The architecture is the released
one at ``size="full"`` (the constructor values of the released configs, docs/gpu.md, plus
the condition embedders: DINOv2 ViT-L/14 with registers on image and mask, cropped and full, and a
point-map patch embedder, fused by ``EmbedderFuser``); ``size="tiny"`` keeps every module and shape
rule (16^3 x 8 stage-1 latent and a 64^3 grid, which ``InferencePipeline`` hard-codes) at toy widths
for a CPU test. Nothing is copied from upstream's configs: the values are facts about the model.

``write_checkpoints(dir, seed)`` then builds every model from those yamls with hydra, exactly as the
pipeline's loaders will, draws seeded random weights (``randomize_``: the same parameter
name gets the same values on every machine and in every tree) and saves them in the format the
loaders read unchanged: generators as Lightning-style ``{"state_dict": {"_base_models.generator.*",
"_base_models.condition_embedder.*"}}`` ``.ckpt`` files (``load_model_from_checkpoint``,
``strict=True``), decoders as plain state dicts (``state_dict_key=None``). Run it inside a worker
whose ``sys.path`` holds a tree (``python -m inference_e2e.make_workspace``).
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path

from inference_e2e.dinov2_hub import write_hub

P = "sam3d_objects."
EMB = P + "model.backbone.dit.embedder."
GEN = P + "model.backbone.generator."
DIT = P + "model.backbone.tdfy_dit.models."
TDFY = P + "data.dataset.tdfy."

SIZES = {
    # released widths, depths and steps (docs/gpu.md names the released config each value comes from)
    "full": dict(dino_size=518, dino=dict(embed_dim=1024, depth=24, num_heads=16), point_size=256,
                 point_patch=8, point_dim=512, cond=1024, ss_channels=1024, ss_blocks=24, ss_heads=16,
                 ss_dec_channels=[512, 128, 32], ss_dec_res_blocks=2, slat_channels=1024, slat_blocks=24,
                 slat_heads=16, slat_io=[128], dec_channels=768, dec_blocks=12, dec_heads=12, dec_window=8,
                 steps=25),
    # toy widths for CPU; 16^3 x 8 latents and the 64^3 grid are hard-coded by the pipeline
    "tiny": dict(dino_size=56, dino=dict(embed_dim=64, depth=2, num_heads=4), point_size=32,
                 point_patch=8, point_dim=32, cond=64, ss_channels=64, ss_blocks=2, ss_heads=4,
                 ss_dec_channels=[16, 16, 16], ss_dec_res_blocks=1, slat_channels=64, slat_blocks=2,
                 slat_heads=4, slat_io=[32], dec_channels=256, dec_blocks=1, dec_heads=4, dec_window=4,
                 steps=2, occupied_voxels=1500),
}

CKPTS = {
    "ss_generator": "ss_generator.ckpt",
    "slat_generator": "slat_generator.ckpt",
    "ss_decoder": "ss_decoder.ckpt",
    "slat_decoder_gs": "slat_decoder_gs.ckpt",
    "slat_decoder_mesh": "slat_decoder_mesh.ckpt",
}


def _partial(target, **kwargs):
    return {"_target_": target, "_partial_": True, **kwargs}


def _lognorm():
    return _partial(GEN + "flow_matching.model.lognorm_sampler", mean=-1.0, std=1.0)


def _dino(S, hub, prenorm):
    return {"_target_": EMB + "dino.Dino", "input_size": S["dino_size"], "repo_or_dir": str(hub),
            "dino_model": "dinov2_vitl14_reg", "source": "local", "prenorm_features": prenorm,
            "backbone_kwargs": dict(img_size=S["dino_size"], patch_size=14, **S["dino"])}


def _fuser(S, hub, prenorm, pointmap):
    image_inputs = [["image", "cropped"], ["rgb_image", "full"], ["mask", "cropped"], ["rgb_image_mask", "full"]]
    embedders = [[_dino(S, hub, prenorm), image_inputs]]
    if pointmap:
        point = {"_target_": EMB + "pointmap.PointPatchEmbed", "input_size": S["point_size"],
                 "patch_size": S["point_patch"], "embed_dim": S["point_dim"]}
        embedders.append([point, [["pointmap", "cropped"], ["rgb_pointmap", "full"]]])
    return {"_target_": EMB + "embedder_fuser.EmbedderFuser", "embedder_list": embedders,
            "use_pos_embedding": "learned", "projection_pre_norm": True,
            "projection_net_hidden_dim_multiplier": 4.0}


def _latent(n_in, C, embedder):
    return {"_target_": DIT + "mm_latent.Latent", "in_channels": n_in, "model_channels": C,
            "pos_embedder": embedder}


def ss_generator(S, hub):
    C = S["ss_channels"]
    learnt = {"_target_": DIT + "mm_latent.LearntPositionEmbedder", "model_channels": C, "token_len": 1}
    shape = {"_target_": DIT + "mm_latent.ShapePositionEmbedder", "model_channels": C, "resolution": 16,
             "patch_size": 1}
    backbone = {
        "_target_": DIT + "mot_sparse_structure_flow.SparseStructureFlowTdfyWrapper",
        "latent_mapping": {"6drotation_normalized": _latent(6, C, learnt), "scale": _latent(3, C, learnt),
                           "shape": _latent(8, C, shape), "translation": _latent(3, C, learnt),
                           "translation_scale": _latent(1, C, learnt)},
        "latent_share_transformer": {"6drotation_normalized": [
            "6drotation_normalized", "translation", "scale", "translation_scale"]},
        "cond_channels": S["cond"], "force_zeros_cond": True, "freeze_d_time_embedder": True,
        "freeze_shared_parameters": True, "in_channels": 8, "is_shortcut_model": True, "mlp_ratio": 4,
        "model_channels": C, "num_blocks": S["ss_blocks"], "num_heads": S["ss_heads"], "out_channels": 8,
        "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": True, "resolution": 16, "use_checkpoint": False,
        "use_fp16": False,
    }
    generator = {
        "_target_": GEN + "shortcut.model.ShortCut",
        "reverse_fn": {"_target_": GEN + "classifier_free_guidance."
                       "ClassifierFreeGuidanceWithExternalUnconditionalProbability",
                       "backbone": backbone, "interval": [0, 500], "p_unconditional": 0.1, "strength": 7.0,
                       "unconditional_handling": "add_flag"},
        "batch_mode": True, "cfg_modalities": ["shape"], "inference_steps": S["steps"], "rescale_t": 3,
        "sigma_min": 0.0, "time_scale": 1000.0, "self_consistency_cfg_strength": 2.0,
        "self_consistency_prob": 0.25, "shortcut_loss_weight": 1.0,
        "ratio_cfg_samples_in_self_consistency_target": 0.25, "training_time_sampler_fn": _lognorm(),
    }
    return {"module": {"generator": {"backbone": generator},
                       "condition_embedder": {"backbone": _fuser(S, hub, prenorm=False, pointmap=True)},
                       "pose_target_convention": "ScaleShiftInvariant"}}


def slat_generator(S, hub, fp16=True):
    backbone = {
        "_target_": DIT + "structured_latent_flow.SLatFlowModelTdfyWrapper",
        "cond_channels": S["cond"], "force_zeros_cond": True, "in_channels": 8, "io_block_channels": S["slat_io"],
        "mlp_ratio": 4, "model_channels": S["slat_channels"], "num_blocks": S["slat_blocks"],
        "num_heads": S["slat_heads"], "num_io_res_blocks": 2, "out_channels": 8, "patch_size": 2,
        "pe_mode": "ape", "qk_rms_norm": True, "resolution": 64, "use_fp16": fp16,
    }
    generator = {
        "_target_": GEN + "flow_matching.model.FlowMatching",
        "reverse_fn": {"_target_": GEN + "classifier_free_guidance.ClassifierFreeGuidance", "backbone": backbone,
                       "p_unconditional": 0.0, "strength": 5.0, "unconditional_handling": "add_flag",
                       "interval": [0, 500]},
        "inference_steps": S["steps"], "rescale_t": 3, "sigma_min": 0.0, "time_scale": 1000.0,
        "training_time_sampler_fn": _lognorm(),
    }
    return {"module": {"generator": {"backbone": generator},
                       "condition_embedder": {"backbone": _fuser(S, hub, prenorm=True, pointmap=False)}}}


def ss_decoder(S):
    return {"_target_": DIT + "sparse_structure_vae.SparseStructureDecoderTdfyWrapper", "out_channels": 1,
            "latent_channels": 8, "num_res_blocks": S["ss_dec_res_blocks"], "num_res_blocks_middle": 2,
            "channels": S["ss_dec_channels"], "reshape_input_to_cube": False}


def _slat_decoder(S, fp16):
    return dict(resolution=64, model_channels=S["dec_channels"], latent_channels=8, num_blocks=S["dec_blocks"],
                num_heads=S["dec_heads"], mlp_ratio=4, attn_mode="swin", window_size=S["dec_window"], use_fp16=fp16)


def slat_decoder_gs(S, fp16=True):
    rep = {"lr": {"_xyz": 1.0, "_features_dc": 1.0, "_opacity": 1.0, "_scaling": 1.0, "_rotation": 0.1},
           "perturb_offset": True, "voxel_size": 1.5, "num_gaussians": 32, "2d_filter_kernel_size": 0.1,
           "3d_filter_kernel_size": 9e-4, "scaling_bias": 4e-3, "opacity_bias": 0.1,
           "scaling_activation": "softplus"}
    return {"_target_": DIT + "structured_latent_vae.decoder_gs.SLatGaussianDecoderTdfyWrapper",
            "representation_config": rep, **_slat_decoder(S, fp16)}


def slat_decoder_mesh(S, device, fp16=True):
    return {"_target_": DIT + "structured_latent_vae.decoder_mesh.SLatMeshDecoderTdfyWrapper",
            "representation_config": {"use_color": True}, "device": device, **_slat_decoder(S, fp16)}


def _preprocessor(S, pointmap):
    pad = _partial(TDFY + "img_processing.pad_to_square_centered")

    def mode(name):
        return {"_target_": "torchvision.transforms.InterpolationMode", "_args_": [name]}

    def resize(name):
        return {"_target_": "torchvision.transforms.Compose", "transforms": [
            pad, {"_target_": "torchvision.transforms.Resize", "size": S["dino_size"], "interpolation": mode(name)}]}

    joint = [_partial(TDFY + "img_and_mask_transforms.crop_around_mask_with_padding", box_size_factor=1.0,
                      padding_factor=0.1), _partial(TDFY + "img_and_mask_transforms.rembg")]
    node = {"_target_": TDFY + "preprocessor.PreProcessor", "img_transform": resize("bicubic"),
            "mask_transform": resize("nearest"), "img_mask_joint_transform": joint}
    if pointmap:
        # the crop only: rembg's torch.where(mask > 0, pointmap, nan) mixes the CPU mask with the point
        # map, which compute_pointmap has put on the pipeline's device (fails on CUDA)
        node.update(img_mask_pointmap_joint_transform=joint[:1], normalize_pointmap=True,
                    pointmap_transform={"_target_": "torchvision.transforms.Compose", "transforms": [
                        _partial(TDFY + "img_processing.pad_to_square_centered", value=float("nan"))]},
                    pointmap_normalizer={"_target_": TDFY + "img_and_mask_transforms.ObjectCentricSSI"})
    return node


def pipeline(S, device, dtype):
    cfg = {"_target_": P + "pipeline.inference_pipeline_pointmap.InferencePipelinePointMap"}
    for name, ckpt in CKPTS.items():
        cfg[name + "_config_path"] = name + ".yaml"
        cfg[name + "_ckpt_path"] = ckpt
    cfg.update(
        device=device, dtype=dtype, decode_formats=["gaussian", "mesh"], pose_decoder_name="ScaleShiftInvariant",
        ss_condition_input_mapping=[], slat_condition_input_mapping=[],
        ss_inference_steps=S["steps"], slat_inference_steps=S["steps"],
        ss_preprocessor=_preprocessor(S, pointmap=True), slat_preprocessor=_preprocessor(S, pointmap=False),
        # never called: Inference(...)(..., pointmap=...) hands the point map in (no MoGe weights here)
        depth_model={"_target_": P + "pipeline.depth_models.moge.MoGe",
                     "model": {"_target_": "torch.nn.Identity"}, "device": device},
        layout_post_optimization_method=_partial(P + "pipeline.inference_utils.layout_post_optimization"),
    )
    return cfg


def write_configs(directory, size="full", device="cuda", dtype=None):
    """Write pipeline.yaml and the per-model yamls into ``directory``; returns pipeline.yaml's path."""
    from omegaconf import OmegaConf

    S = SIZES[size]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hub = write_hub(directory / "dinov2_hub")
    cuda = device.startswith("cuda")
    dtype = dtype or ("bfloat16" if cuda else "float32")
    fp16 = cuda  # the released fp16 blocks; CPU kernels lack half precision (silu on torch 2.0)
    docs = {
        "pipeline": pipeline(S, device, dtype),
        "ss_generator": ss_generator(S, hub.resolve()),
        "slat_generator": slat_generator(S, hub.resolve(), fp16),
        "ss_decoder": ss_decoder(S),
        "slat_decoder_gs": slat_decoder_gs(S, fp16),
        "slat_decoder_mesh": slat_decoder_mesh(S, device, fp16),
    }
    for name, doc in docs.items():
        OmegaConf.save(OmegaConf.create(doc), directory / (name + ".yaml"))
    return directory / "pipeline.yaml"


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


def _prefixed(prefix, module):
    return {prefix + k: v.detach().cpu() for k, v in module.state_dict().items()}


def calibrate_occupancy(decoder, voxels, seed=0):
    """Shift the decoder's last bias so that about ``voxels`` of the 64^3 logits are positive.

    Random weights occupy about a third of the grid (92 000 voxels seen at tiny size): far more than a
    CPU can decode to a mesh. On N(0, 1) latents (the flow's scale) the ``voxels``-th largest logit
    becomes 0. The released size keeps its random bias.
    """
    import torch

    last = [m for m in decoder.modules() if isinstance(m, torch.nn.Conv3d)][-1]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        latent = torch.randn(1, 8, 16, 16, 16, generator=g, device="cpu")
        logits = decoder(latent.to(last.weight.device)).flatten()
        kth = torch.topk(logits.float(), voxels).values[-1]
        last.bias -= kth.to(last.bias.dtype)
    return float(kth)


def write_checkpoints(directory, seed=0, device="cpu", occupied_voxels=None):
    """Instantiate every model from the yamls in ``directory`` (as the loaders will) and save random weights."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    directory = Path(directory)
    sums = {}
    for i, name in enumerate(CKPTS):
        cfg = OmegaConf.load(directory / (name + ".yaml"))
        with torch.device(device):
            if name.endswith("_generator"):
                generator = instantiate(cfg["module"]["generator"]["backbone"])
                embedder = instantiate(cfg["module"]["condition_embedder"]["backbone"])
                randomize_(generator, seed + 10 * i)
                randomize_(embedder, seed + 10 * i + 1)
                state = {"state_dict": {**_prefixed("_base_models.generator.", generator),
                                        **_prefixed("_base_models.condition_embedder.", embedder)}}
                tensors = state["state_dict"]
            else:
                model = instantiate(cfg)
                randomize_(model, seed + 10 * i)
                if name == "ss_decoder" and occupied_voxels:
                    sums["ss_decoder_bias_shift"] = calibrate_occupancy(model, occupied_voxels, seed)
                state = tensors = _prefixed("", model)
        torch.save(state, directory / CKPTS[name])
        sums[name] = {"tensors": len(tensors), "parameters": int(sum(t.numel() for t in tensors.values())),
                      "bytes": (directory / CKPTS[name]).stat().st_size}
    return sums
