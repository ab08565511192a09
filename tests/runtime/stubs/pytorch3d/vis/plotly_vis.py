"""Import stub for ``pytorch3d.vis.plotly_vis`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'AxisArgs', 'Lighting', '_add_camera_trace', '_add_pointcloud_trace', '_add_ray_bundle_trace',
       '_is_ray_bundle', '_scale_camera_to_bounds', '_update_axes_bounds')
