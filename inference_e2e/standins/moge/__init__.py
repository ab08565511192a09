"""Stand-in for ``moge`` (microsoft/MoGe): only the point-map geometry SAM 3D Objects imports.

The real ``moge`` is installed from GitHub only (and pulls ``utils3d``, also GitHub-only); CI
reaches only PyPI, so the end-to-end test puts this directory at the end of ``sys.path`` (a real
install always wins). Our own code of the documented behaviour of
``moge.utils.geometry_torch.{normalized_view_plane_uv, recover_focal_shift}`` and
``moge.utils.geometry_numpy.{solve_optimal_focal_shift, solve_optimal_shift}``; no model code.
"""
