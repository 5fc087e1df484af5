"""Back end of s2mat: LiDAR odometry on static points and a static map with free-space carving.

Modules, one concept each:

- ``odometry``: :class:`~mapping.odometry.Odometry`, scan-to-local-map registration
  (VGICP, small_gicp) with a constant-velocity guess, optional deskew and an adaptive
  correspondence threshold (``adaptive_threshold``); the local map (``local_map``) only
  receives points the caller marks static, via ``register`` then ``update_map``.
- ``static_map``: :class:`~mapping.static_map.StaticMap`, voxel hits plus free-space evidence
  from range-image visibility tests (``range_image``), carving, a live window (split into
  shards by voxel key, which take their window checks in turn) and an archive of sorted runs
  (``archive``);
  ``free_counts`` / ``occupied_counts`` / ``voxel_size`` answer perception's map queries.
- ``map_io``: atomic PLY + JSON sidecar save/load that continues identically.
- ``voxel_keys``, ``voxel_table``, ``geometry``, ``preprocess``: small helpers; ``errors``.

Nothing here imports ``s2mat``, ``perception`` or ROS.
"""
