"""The smoke checks of the verify probe: name, what it exercises, the rules it proves, the function."""
from vp_checks_model import (
                             check_attention_sdpa,
                             check_attention_torch_flash_attn,
                             check_cfg_guidance,
                             check_mot_modulated_block,
                             check_mot_self_attention,
                             check_pointmap_dynamo_disable,
                             check_slat_is_compiling,
)
from vp_checks_pipeline import (
                             check_attention_backend_select,
                             check_compile_fallback,
                             check_cpu_autocast_fp32,
                             check_flexicubes_fp16,
                             check_load_checkpoint,
                             check_pipeline_dynamo_config,
)

CHECKS = [
    ("mot_self_attention", "MOT self-attention: multi-tree tree_map", "TC005", check_mot_self_attention),
    ("mot_modulated_block", "MOT modulated cross block, checkpointed", "TC005 TC001", check_mot_modulated_block),
    ("cfg_guidance", "classifier-free guidance: _cfg_step, get_strength (dict strength/interval)", "TC005", check_cfg_guidance),
    ("attention_torch_flash_attn", "scaled_dot_product_attention, ATTN_BACKEND=torch_flash_attn", "TC003",
     check_attention_torch_flash_attn),
    ("attention_sdpa", "scaled_dot_product_attention, ATTN_BACKEND=sdpa", "-", check_attention_sdpa),
    ("slat_is_compiling", "structured-latent flow wrapper: is_compiling branch", "TC004", check_slat_is_compiling),
    ("pointmap_dynamo_disable", "pointmap embedder: @torch._dynamo.disable() method", "TC002", check_pointmap_dynamo_disable),
    ("pipeline_dynamo_config", "InferencePipeline._compile: torch._dynamo.config writes", "TC002 TC011", check_pipeline_dynamo_config),
    ("compile_fallback", "compile_wrapper: eager fallback where torch cannot compile", "TC011", check_compile_fallback),
    ("flexicubes_fp16", "FlexiCubes on float16 inputs (index_add_ dtypes, kaolin optional)", "TC007 TC008", check_flexicubes_fp16),
    ("load_checkpoint", "load_model_from_checkpoint with a plain nn.Module (lightning optional)", "TC006", check_load_checkpoint),
    ("cpu_autocast_fp32", "pointmap intrinsics under float32 autocast", "TC012", check_cpu_autocast_fp32),
    ("attention_backend_select", "set_attention_backend() without CUDA", "TC013", check_attention_backend_select),
]
BY_NAME = dict((c[0], c) for c in CHECKS)
