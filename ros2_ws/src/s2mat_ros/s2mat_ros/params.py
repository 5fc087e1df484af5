"""Node parameters: the s2mat configuration under its dotted keys, plus a few node settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from s2mat.config import S2MATConfig, flatten, preset, read_yaml_mapping, with_overrides
from s2mat.errors import ConfigError

# Settings of the nodes themselves (not part of the s2mat configuration), with defaults.
NODE_SETTINGS: dict[str, Any] = {
    "preset": "",  # sensor preset applied before the dotted keys ("" = the plain defaults, like `s2mat map`)
    "input_topic": "/points",  # sensor_msgs/PointCloud2, sensor-data QoS
    "input_reliable": False,  # subscribe reliably (replaying a bag that must not lose a frame)
    "world_frame": "map",  # frame of odometry, path, map and tracks (the first sensor pose)
    "max_pending": 1,  # clouds the mapping node queues while a frame is in flight; older ones are skipped
    "lockstep_timeout": 5.0,  # wall seconds a node waits for its partner within one frame
    "map_update_period": 1.0,  # seconds of input time between incremental map updates
    "map_full_period": 10.0,  # seconds of input time between full map snapshots
    "path_period": 1.0,  # seconds of input time between nav_msgs/Path messages (odometry goes out every frame)
    "timing_log": False,  # log each frame's time budget per node ("frame timing: ..." lines, milliseconds)
}

def input_qos(settings: dict[str, Any]) -> Any:
    """QoS of the PointCloud2 input: sensor-data (best effort) unless ``input_reliable``."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    if settings.get("input_reliable"):
        return QoSProfile(depth=qos_profile_sensor_data.depth, reliability=ReliabilityPolicy.RELIABLE)
    return qos_profile_sensor_data


# Settings of the annotator node (besides the configuration's annotator.* keys).
ANNOTATOR_SETTINGS: dict[str, Any] = {
    "tracks_topic": "/s2mat/tracks/list",
    "camera_topic": "/camera/image_raw",
    "camera_info_topic": "/camera/camera_info",
    "camera_T_lidar": [0.0],  # 16 numbers row-major; a single value (default) = no camera extrinsic known
    "camera_max_offset": 0.05,  # seconds between an image's stamp and the scan's for it to be used
    "camera_wait": 0.3,  # wall seconds a complete frame waits for its camera image while a camera is live
}


def declare_settings(node: Node, defaults: dict[str, Any] = NODE_SETTINGS) -> dict[str, Any]:
    """Declare the node settings ``defaults`` and return their values (see :func:`setting`).
    Raises ``ConfigError``."""
    dynamic = ParameterDescriptor(dynamic_typing=True)
    return {key: setting(key, node.declare_parameter(key, default, dynamic).value, default)
            for key, default in defaults.items()}


def setting(key: str, value: Any, default: Any) -> Any:
    """``value`` of the node setting ``key`` as the type of its ``default``: a whole number
    where a decimal one is expected (``map_full_period: 30``) is taken as one. Raises
    ``ConfigError`` naming the setting for any other type."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, list) and isinstance(value, list):
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return [float(v) for v in value]
    elif type(value) is type(default):
        return value
    raise ConfigError(f"setting {key!r} must be {type(default).__name__} like its default {default!r}, got {value!r}")


def declare_config(node: Node) -> S2MATConfig:
    """Declare every configuration key as a parameter (default from ``preset``) and build the
    configuration from the values given (params file, command line). Raises ``ConfigError``."""
    name = node.get_parameter("preset").value if node.has_parameter("preset") else ""
    base = preset(name) if name else S2MATConfig()
    dynamic = ParameterDescriptor(dynamic_typing=True)
    values = {}
    for key, default in flatten(base).items():
        if isinstance(default, tuple | list):
            default = list(default)
        values[key] = node.declare_parameter(key, default, dynamic).value
    return with_overrides(base, values)


def check_params_file(path: str | Path) -> dict[str, Any]:
    """Read a ROS 2 parameters file (``node_or_/**: {ros__parameters: {...}}``), check every key is a
    configuration key or a node setting and every value validates; returns the dotted values.
    Raises ``ConfigError`` naming the file and the problem."""
    path = Path(path)
    data = read_yaml_mapping(path, "parameters file", "map node names to {ros__parameters: ...}")
    values: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            values[prefix] = node

    for name, section in data.items():
        if not isinstance(section, dict) or "ros__parameters" not in section:
            raise ConfigError(f"parameters file {path}: {name!r} has no 'ros__parameters' mapping")
        walk("", section["ros__parameters"])
    defaults = {**NODE_SETTINGS, **ANNOTATOR_SETTINGS}
    settings = {k: v for k, v in values.items() if k in defaults}
    for key, value in settings.items():
        try:
            setting(key, value, defaults[key])
        except ConfigError as exc:
            raise ConfigError(f"parameters file {path}: {exc}") from None
    known = flatten(S2MATConfig())
    unknown = sorted(k for k in values if k not in defaults and k not in known and k != "use_sim_time")
    if unknown:
        raise ConfigError(f"parameters file {path}: unknown keys {', '.join(unknown)}")
    base = preset(settings["preset"]) if settings.get("preset") else S2MATConfig()
    config_values = {k: v for k, v in values.items() if k in known}
    try:
        with_overrides(base, config_values)
    except ConfigError as exc:
        raise ConfigError(f"parameters file {path}: {exc}") from None
    return values
