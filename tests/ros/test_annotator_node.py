"""The annotator node, as its own process over DDS, annotates the confirmed car tracks of a
simulated street (track list with sensor pose, the scan's static and dynamic points, camera
image and camera_info) with car statements, and survives malformed input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy wheels (extra 'ros') are not installed")
pytest.importorskip("torch", reason="the commonsense annotator needs torch")

from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402
from std_msgs.msg import Header, String  # noqa: E402

from perception.commonsense.annotator import HINT_SUBJECTS  # noqa: E402
from s2mat.config import S2MATConfig  # noqa: E402
from s2mat.pipeline import S2MAT  # noqa: E402
from s2mat.sim import simulate  # noqa: E402
from s2mat.types import PointLabel  # noqa: E402
from s2mat_ros import outputs  # noqa: E402
from s2mat_ros.messages import to_time_msg  # noqa: E402
from tests.ros.harness import Listener, domain_id, ros_env, stop  # noqa: E402

pytestmark = pytest.mark.ros
FRAMES = 6


def _image(header: Header, image: np.ndarray, encoding: str = "rgb8") -> Image:
    h, w, _ = image.shape
    return Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0, step=3 * w,
                 data=np.ascontiguousarray(image).reshape(-1).tobytes())


def _camera_info(header: Header, camera) -> CameraInfo:
    return CameraInfo(header=header, width=camera.width, height=camera.height,
                      k=np.asarray(camera.K, dtype=np.float64).reshape(-1).tolist())


def test_annotator_node_annotates_confirmed_car_tracks_over_dds(tmp_path):
    domain = domain_id(7)
    seq = simulate("street", sensor="vlp16", frames=FRAMES, seed=3, columns=1024, camera=True)
    frames = list(seq)
    camera = frames[0].camera
    extrinsic = "[" + ",".join(repr(float(v)) for v in np.asarray(camera.camera_T_lidar).reshape(-1)) + "]"
    log = tmp_path / "annotator.log"
    node = subprocess.Popen([sys.executable, "-m", "s2mat_ros.annotator_node", "--ros-args",
                             "-p", "annotator.enabled:=true", "-p", f"camera_T_lidar:={extrinsic}",
                             # A frame waits for its image: more than the default 0.3 s of wall
                             # time, so a slow moment of the test machine cannot end the wait. An
                             # image lost on the best-effort camera topic (about one in 50 here)
                             # gives its frame LiDAR views; a track's next camera view replaces them.
                             "-p", "camera_wait:=2.0"],
                            env=ros_env(domain), stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    listener = Listener(domain)
    try:
        # The tracker's output for the sequence (what the perception node would publish).
        s2mat = S2MAT(S2MATConfig())
        results = [s2mat.step(f) for f in frames]
        n = listener.node
        for sub in list(n.subscriptions):  # the harness's track-list reader would choke on the malformed list
            if sub.topic_name == "/s2mat/tracks/list":
                n.destroy_subscription(sub)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        pub_list = n.create_publisher(String, "/s2mat/tracks/list", reliable)
        pub_static = n.create_publisher(PointCloud2, "/s2mat/points/static", reliable)
        pub_dynamic = n.create_publisher(PointCloud2, "/s2mat/points/dynamic", reliable)
        pub_image = n.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        pub_info = n.create_publisher(CameraInfo, "/camera/camera_info", qos_profile_sensor_data)
        annotations: list[dict] = []
        n.create_subscription(String, "/s2mat/annotations", lambda m: annotations.append(json.loads(m.data)), reliable)
        up = listener.spin_until(lambda: pub_list.get_subscription_count() >= 1
                                 and pub_image.get_subscription_count() >= 1
                                 and pub_info.get_subscription_count() >= 1
                                 and n.count_publishers("/s2mat/annotations") >= 1, 45)
        assert up, "the annotator node did not come up: " + log.read_text()
        # Our publishers see the node's readers; the node may not see our writers yet, and a
        # best-effort reader drops what comes from a writer it has not matched. The node logs its
        # first calibration: once it has, it has matched the image writer too (announced before).
        # The frames then must all reach the node while it is busy annotating (a multi-threaded
        # executor lost every later camera message in 6 of 10 runs; see graph.spin_nodes).
        first = Header(stamp=to_time_msg(round(frames[0].timestamp * 1e9)), frame_id="camera")

        def calibrated() -> bool:
            pub_info.publish(_camera_info(first, camera))
            return "camera calibration received" in log.read_text()

        assert listener.spin_until(calibrated, 20), "the node got no camera_info: " + log.read_text()
        # Malformed input first: none of it may end the node.
        pub_list.publish(String(data="not json"))
        pub_list.publish(String(data=json.dumps({"stamp": {"sec": 0, "nanosec": 1}, "tracks": [{"id": 1}]})))
        pub_image.publish(Image(encoding="rgb8", width=10, height=10, step=30, data=b"\x00" * 7))
        confirmed_cars = set()
        for frame, result in zip(frames, results, strict=True):
            header = Header(stamp=to_time_msg(round(frame.timestamp * 1e9)), frame_id="map")
            cam_header = Header(stamp=header.stamp, frame_id="camera")
            pub_info.publish(_camera_info(cam_header, frame.camera))
            world = frame.points @ result.pose[:3, :3].T + result.pose[:3, 3]
            labels = result.labels
            pub_list.publish(outputs.track_list(header, result.tracks, result.pose))
            pub_static.publish(outputs.cloud(header, world[(labels == PointLabel.STATIC) | (labels == PointLabel.GROUND)]))
            pub_dynamic.publish(outputs.cloud(header, world[labels == PointLabel.DYNAMIC]))
            # The image comes after the frame's clouds (as when the node's executor takes the clouds'
            # callbacks first): the node must wait for it rather than fall back to LiDAR views.
            listener.spin_until(lambda: False, 0.05)
            pub_image.publish(_image(cam_header, frame.image))
            confirmed_cars |= {t.track_id for t in result.tracks
                               if t.object_class.value == "car" and t.state.value == "confirmed"}
            listener.spin_until(lambda: False, 0.3)
        listener.spin_until(lambda: len({a["stamp"]["sec"] * 10**9 + a["stamp"]["nanosec"]
                                         for a in annotations}) >= FRAMES - 2, 20)
        assert node.poll() is None, "the annotator node died: " + log.read_text()
        stop(node)  # its log ends with its counts (images and camera_infos received, camera views made)
        assert confirmed_cars, "the tracker confirmed no car on the simulated street"
        cars = [a for a in annotations if a["track_id"] in confirmed_cars]
        assert cars, f"no annotation of a confirmed car track; got {annotations}; log: {log.read_text()}"
        for record in cars:
            subjects = {s["subject"] for s in record["statements"]}
            assert subjects <= HINT_SUBJECTS["car"]
        assert sum("car" in {s["subject"] for s in r["statements"]} for r in cars) >= 0.8 * len(cars)
        assert "camera" in {a["view"] for a in annotations}, f"no camera view; log: {log.read_text()}"
        # Every record names its input stamp, and the malformed input was logged.
        stamps = {round(f.timestamp * 1e9) for f in frames}
        assert {a["stamp"]["sec"] * 10**9 + a["stamp"]["nanosec"] for a in annotations} <= stamps
        text = log.read_text()
        assert "malformed track list" in text
    finally:
        stop(node)
        listener.close()
