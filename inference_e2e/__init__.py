"""The project's one end-to-end GPU harness: upstream's whole inference, patched against unpatched.

``gpu-inference-e2e CHECKOUT IMAGE MASK`` (or ``python -m inference_e2e.run``) runs
``notebook/inference.py``'s ``Inference(pipeline.yaml)(image, mask, seed=42, pointmap=...)`` in
worker processes, one tree each: per-stage time, peak memory, bitwise equality, the attention
backend A/B (``--attn torch_flash_attn,sdpa``) and how often each ``_torch_compat`` helper is called.
Not part of the installed package: ``codemods/`` and ``cli/`` never import it.
"""
