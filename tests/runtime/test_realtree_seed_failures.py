"""The seed failures: the *unpatched* PyPI tree under this torch, each failure where this torch lacks the API.

What this torch has is feature-detected in a fresh interpreter (``torch_features`` in conftest.py),
never read from the version string. On torch 2.0 every seed failure of the issue shows up:
``torch._dynamo`` AttributeError (pointmap embedder decorator, ``InferencePipeline._compile``),
``No module named 'torch.nn.attention'`` (shortcut/model.py), the ``tree_map()`` arity TypeError
(MOT blocks, classifier-free guidance), ``torch.compiler`` AttributeError (structured-latent flow),
the ``index_add_`` dtype RuntimeError (FlexiCubes with 16-bit inputs; on every torch), and CPU
float32 autocast's RuntimeError. On a newer torch the same tests check that those paths work
unpatched, so the env is shown to be real both ways. Import stubs: see test_realtree_runtime.py.

FlexiCubes runs on float16 where the device has float16 ``tanh``/``sigmoid``; torch 2.0 on CPU has
not, so there the check uses bfloat16, which reaches the same ``index_add_`` dtype error.
"""
import re

import pytest

torch = pytest.importorskip("torch")

from .conftest import by_name, describe, probe_env, run_probe  # noqa: E402

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="session")
def unpatched_report(pristine_copy, tmp_path_factory):
    # LIDRA_SKIP_INIT: past the missing ``sam3d_objects.init`` (TC009), to reach the torch failures
    return run_probe(pristine_copy, tmp_path_factory.mktemp("probe-pristine"), env=probe_env(LIDRA_SKIP_INIT="1"))


# ----------------------------------------------------------------------------- unpatched
def _expect(unit, fails, pattern):
    """fails: True -> a torch-api failure matching pattern; False -> ok; None -> either."""
    if fails is None and unit["status"] == "ok":
        return
    if fails is False:
        assert unit["status"] == "ok", describe(unit)
        return
    assert unit["status"] == "fail" and unit["category"] == "torch-api", describe(unit)
    assert re.search(pattern, unit["error"]), describe(unit)


def test_unpatched_shortcut_import(unpatched_report, torch_features):
    unit = by_name(unpatched_report, "imports")["sam3d_objects.model.backbone.generator.shortcut.model"]
    _expect(unit, not torch_features["nn_attention"], r"torch\.nn\.attention|cannot import name '(sdpa_kernel|SDPBackend)'")


def test_unpatched_pointmap_dynamo(unpatched_report, torch_features):
    imports = by_name(unpatched_report, "imports")
    check = by_name(unpatched_report, "checks")["pointmap_dynamo_disable"]
    expected = False if torch_features["dynamo_attr"] else True
    for unit in (imports["sam3d_objects.model.backbone.dit.embedder.pointmap"],
                 imports["sam3d_objects.pipeline.inference_pipeline_pointmap"], check):
        _expect(unit, expected, r"module 'torch' has no attribute '_dynamo'")


def test_unpatched_inference_pipeline_compile_config(unpatched_report, torch_features):
    unit = by_name(unpatched_report, "checks")["pipeline_dynamo_config"]
    if torch_features["dynamo_attr"] and torch_features["dynamo_has_accumulated_cache_size_limit"]:
        _expect(unit, False, "")
    else:  # torch._dynamo not loaded, or its config has no accumulated_cache_size_limit
        _expect(unit, None if torch_features["dynamo_attr"] else True,
                r"has no attribute '_dynamo'|accumulated_cache_size_limit")
        assert unit["status"] == "fail" or torch_features["dynamo_has_accumulated_cache_size_limit"]


@pytest.mark.parametrize("name", ["mot_self_attention", "cfg_guidance"])
def test_unpatched_multi_tree_map(unpatched_report, torch_features, name):
    _expect(by_name(unpatched_report, "checks")[name], not torch_features["tree_map_multi"],
            r"tree_map\(\) takes 2 positional arguments but [3-9] were given")


def test_unpatched_modulated_block(unpatched_report, torch_features):
    unit = by_name(unpatched_report, "checks")["mot_modulated_block"]
    if torch_features["tree_map_multi"] and torch_features["checkpoint_attr"]:
        _expect(unit, False, "")
    else:  # torch.utils.checkpoint is reached first (use_checkpoint=True), then tree_map
        _expect(unit, True, r"module 'torch\.utils' has no attribute 'checkpoint'|tree_map\(\) takes 2 positional")


def test_unpatched_torch_flash_attn_backend(unpatched_report, torch_features):
    _expect(by_name(unpatched_report, "checks")["attention_torch_flash_attn"], not torch_features["nn_attention"],
            r"module 'torch\.nn' has no attribute 'attention'|has no attribute '(sdpa_kernel|SDPBackend)'")


def test_unpatched_slat_is_compiling(unpatched_report, torch_features):
    _expect(by_name(unpatched_report, "checks")["slat_is_compiling"], not torch_features["compiler_is_compiling"],
            r"module 'torch(\.compiler)?' has no attribute '(compiler|is_compiling)'")


def test_unpatched_flexicubes_index_add_dtype(unpatched_report):
    # index_add_ wants source.dtype == self.dtype on every torch release
    unit = by_name(unpatched_report, "checks")["flexicubes_fp16"]
    _expect(unit, True, r"index_add_\(\): self \(Float\) and source \((Half|BFloat16)\) must have the same scalar type")


def test_unpatched_cpu_autocast_fp32(unpatched_report, torch_features):
    _expect(by_name(unpatched_report, "checks")["cpu_autocast_fp32"], torch_features["cpu_autocast_fp32_raises"],
            r"AutocastCPU only support Bfloat16")


def test_unpatched_compile_fallback(unpatched_report, torch_features):
    unit = by_name(unpatched_report, "checks")["compile_fallback"]
    if torch_features["compile_supported"] and torch_features["dynamo_attr"]:
        _expect(unit, False, "")
    else:
        _expect(unit, True, r"has no attribute '_dynamo'|not yet supported for torch\.compile|not supported")


def test_unpatched_without_lightning_does_not_import(pristine_copy, tmp_path):
    report = run_probe(pristine_copy, tmp_path, "--block", "lightning", "--no-checks", "--modules", "sam3d_objects.model.io",
                       env=probe_env(LIDRA_SKIP_INIT="1"))
    unit = report["imports"][0]
    # could not be verified without lightning: skipped (needs lightning), which makes verify incomplete (exit 3)
    assert unit["status"] == "skip" and unit["category"] == "missing-package" and unit["package"] == "lightning", describe(unit)


def test_unpatched_package_init_needs_unshipped_module(pristine_copy, tmp_path):
    report = run_probe(pristine_copy, tmp_path, "--no-checks", "--modules", "sam3d_objects")
    unit = report["imports"][0]
    assert unit["status"] == "fail" and "sam3d_objects.init" in unit["error"], describe(unit)
