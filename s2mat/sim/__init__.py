"""The street simulator: a seeded procedural world, a ray-cast LiDAR and camera, full ground truth.

    from s2mat.sim import simulate
    seq = simulate("street", sensor="hdl64", frames=50, seed=0)
    for frame in seq: ...            # s2mat.types.Frame with ground truth
    seq.write("out", format="kitti")  # or "dynamicmap", "rosbag"
"""

from s2mat.sim.lidar import LIDAR_PRESETS, LidarPreset
from s2mat.sim.scenarios import SCENARIOS
from s2mat.sim.sequence import SimulatedSequence, simulate

__all__ = ["LIDAR_PRESETS", "SCENARIOS", "LidarPreset", "SimulatedSequence", "simulate"]
