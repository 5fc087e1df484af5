"""PointCloud2 codec: exact round trips for arbitrary layouts, and clear errors for malformed messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2mat import pointcloud2 as pc2
from s2mat.errors import PointCloud2Error
from s2mat.types import Frame

DTYPE_CODES = ["i1", "u1", "i2", "u2", "i4", "u4", "f4", "f8"]


@st.composite
def layouts(draw):
    """A random point layout: fields of any datatype and count, padding between them."""
    n_fields = draw(st.integers(1, 6))
    order = draw(st.sampled_from(["<", ">"]))
    names, formats, offsets, offset = [], [], [], 0
    for i in range(n_fields):
        code = draw(st.sampled_from(DTYPE_CODES))
        count = draw(st.integers(1, 3))
        offset += draw(st.integers(0, 5))  # padding before the field
        base = np.dtype(order + code)
        names.append(f"f{i}")
        formats.append(base if count == 1 else np.dtype((base, (count,))))
        offsets.append(offset)
        offset += base.itemsize * count
    itemsize = offset + draw(st.integers(0, 7))  # padding at the end of the point
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize})


@settings(max_examples=60, deadline=None)
@given(layout=layouts(), height=st.integers(1, 3), width=st.integers(0, 9), row_pad=st.integers(0, 5),
       seed=st.integers(0, 2**31 - 1))
def test_random_layouts_round_trip_bit_exactly(layout, height, width, row_pad, seed):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=height * width * layout.itemsize, dtype=np.uint8)
    cloud = raw.view(layout).reshape(height, width) if height > 1 else raw.view(layout)
    msg = pc2.encode(cloud, stamp=12.5, frame_id="lidar", row_step=width * layout.itemsize + row_pad)
    assert msg.point_step == layout.itemsize
    multibyte = [layout[n].base for n in layout.names if layout[n].base.itemsize > 1]
    if multibyte:
        assert msg.is_bigendian == (multibyte[0].byteorder == ">")
    back = pc2.decode(msg)
    assert back.shape == cloud.shape
    assert back.dtype == cloud.dtype
    assert back.tobytes() == cloud.tobytes()


def _xyz_cloud(n: int = 5, extra: dict | None = None) -> np.ndarray:
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")] + list((extra or {}).items())
    cloud = np.zeros(n, dtype=fields)
    for i, axis in enumerate("xyz"):
        cloud[axis] = np.arange(n) + i * 10
    return cloud


def test_rclpy_and_rosbags_messages_carry_the_same_bytes():
    pytest.importorskip("sensor_msgs.msg", reason="rclpy message wheels (extra 'ros') are not installed")
    cloud = _xyz_cloud(7, {"ring": "<u2", "time": "<f4"})
    a = pc2.encode(cloud, backend="rosbags", stamp=3.25)
    b = pc2.encode(cloud, backend="rclpy", stamp=3.25)
    assert bytes(memoryview(b.data)) == bytes(memoryview(a.data))
    assert pc2.decode(b).tobytes() == cloud.tobytes()
    assert pc2.stamp_to_sec(b.header.stamp) == pytest.approx(3.25)


def test_frame_conversion_keeps_points_intensity_and_relative_time():
    rng = np.random.default_rng(1)
    frame = Frame(points=rng.normal(size=(50, 3)), timestamp=1700000000.25, intensity=rng.random(50),
                  times=np.linspace(0, 0.1, 50))
    back = pc2.to_frame(pc2.from_frame(frame))
    np.testing.assert_array_equal(back.points, frame.points)
    np.testing.assert_array_equal(back.intensity, frame.intensity)
    np.testing.assert_allclose(back.times, frame.times, atol=1e-7)
    assert back.timestamp == pytest.approx(frame.timestamp, abs=1e-6)


def test_ouster_style_integer_nanosecond_time_becomes_seconds():
    cloud = _xyz_cloud(3, {"t": "<u4"})
    cloud["t"] = [0, 50_000_000, 99_000_000]
    frame = pc2.to_frame(pc2.encode(cloud, stamp=5.0))
    np.testing.assert_allclose(frame.times, [0.0, 0.05, 0.099], atol=1e-7)


def test_organised_cloud_flattens_row_major():
    cloud = _xyz_cloud(6).reshape(2, 3)
    msg = pc2.encode(cloud)
    assert (msg.height, msg.width) == (2, 3)
    np.testing.assert_array_equal(pc2.xyz(pc2.decode(msg))[:, 0], np.arange(6))


def test_big_endian_float_fields_decode_to_native_coordinates():
    cloud = _xyz_cloud(4).astype([("x", ">f4"), ("y", ">f4"), ("z", ">f4"), ("intensity", ">f4")])
    msg = pc2.encode(cloud)
    assert msg.is_bigendian
    np.testing.assert_array_equal(pc2.xyz(pc2.decode(msg)), pc2.xyz(_xyz_cloud(4)))


def test_short_data_is_reported_with_the_sizes():
    msg = pc2.encode(_xyz_cloud(10))
    msg.data = msg.data[:-5]
    with pytest.raises(PointCloud2Error, match=r"data is 155 bytes, shorter than row_step \* height"):
        pc2.decode(msg)


def test_field_beyond_point_step_names_the_field():
    msg = pc2.encode(_xyz_cloud(2))
    msg.fields[3].offset = 14  # intensity would end at byte 18 of a 16-byte point
    with pytest.raises(PointCloud2Error, match="field 'intensity' at offset 14 .* beyond point_step 16"):
        pc2.decode(msg)


def test_wrong_point_step_and_unknown_datatype_are_reported():
    msg = pc2.encode(_xyz_cloud(2))
    msg.point_step = 8
    with pytest.raises(PointCloud2Error, match="beyond point_step 8"):
        pc2.decode(msg)
    msg = pc2.encode(_xyz_cloud(2))
    msg.fields[0].datatype = 42
    with pytest.raises(PointCloud2Error, match="field 'x' has unknown datatype 42"):
        pc2.decode(msg)


def test_non_float_or_missing_coordinates_are_rejected_by_name():
    cloud = np.zeros(3, dtype=[("x", "<i2"), ("y", "<f4"), ("z", "<f4")])
    with pytest.raises(PointCloud2Error, match="field 'x' has dtype int16"):
        pc2.to_frame(pc2.encode(cloud))
    with pytest.raises(PointCloud2Error, match="no 'z' field"):
        pc2.xyz(np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4")]))


def test_zero_point_message_decodes_to_an_empty_frame():
    frame = pc2.to_frame(pc2.encode(_xyz_cloud(0)))
    assert frame.points.shape == (0, 3)
