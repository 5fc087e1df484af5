"""The internal messages between the mapping and perception nodes round-trip exactly."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402

from s2mat.sim import simulate  # noqa: E402
from s2mat_ros import wire  # noqa: E402
from s2mat_ros.messages import to_time_msg  # noqa: E402

pytestmark = pytest.mark.ros


def _through_dds_bytes(msg):
    return deserialize_message(serialize_message(msg), PointCloud2)


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 1001])
def test_masks_are_bit_packed_and_round_trip(count):
    values = np.random.default_rng(count).random(count) < 0.3
    msg = _through_dds_bytes(wire.mask(to_time_msg(5), 12, values))
    assert len(msg.data) == (count + 7) // 8 and wire.seq_of(msg) == 12
    np.testing.assert_array_equal(wire.read_mask(msg, count), values)
    assert len(wire.read_mask(msg, count + 8)) != count + 8  # a size mismatch shows in the length
    assert wire.read_mask(_through_dds_bytes(wire.mask(to_time_msg(5), 12, None)), count) is None


def test_frame_points_carry_the_preprocessed_points_and_times_exactly():
    frame = next(iter(simulate("street", sensor="vlp16", frames=1, seed=1, columns=512)))
    assert frame.times is not None
    msg = _through_dds_bytes(wire.frame_points(to_time_msg(7), 3, frame.points, frame.times))
    points, times = wire.read_frame_points(msg)
    assert points.dtype == np.float32 and times.dtype == np.float32
    np.testing.assert_array_equal(points, frame.points)
    np.testing.assert_array_equal(times, frame.times)
    points, times = wire.read_frame_points(_through_dds_bytes(wire.frame_points(to_time_msg(7), 3, frame.points, None)))
    np.testing.assert_array_equal(points, frame.points)
    assert times is None
