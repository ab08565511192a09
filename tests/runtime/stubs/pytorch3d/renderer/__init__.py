"""Import stub for ``pytorch3d.renderer`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'BlendParams', 'HeterogeneousRayBundle', 'MeshRasterizer', 'MeshRenderer', 'PerspectiveCameras',
       'RasterizationSettings', 'RayBundle', 'SoftSilhouetteShader', 'TexturesAtlas', 'TexturesVertex',
       'look_at_view_transform', 'ray_bundle_to_ray_points')
