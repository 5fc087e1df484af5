"""One typed settings tree for s2mat: YAML load/save, dotted-key overrides, sensor presets.

The same dotted keys (``mapping.voxel_size``) are the ROS 2 node parameters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mapping.config import OdometryConfig, StaticMapConfig
from perception.config import ClusteringConfig, DetectionConfig, GroundConfig, TrackingConfig
from s2mat.datasets.atomic import atomic_write_text
from s2mat.errors import ConfigError

CONFIG_FILENAME = "config.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SensorConfig(_Section):
    """The LiDAR: the few values that depend on the sensor."""

    preset: str = Field("hdl64", description="Name of the preset these values came from.")
    min_range: float = Field(2.0, ge=0, description="Closer returns are dropped (the ego vehicle), metres.")
    max_range: float = Field(100.0, gt=0, description="Farther returns are dropped, metres.")
    frame_rate: float = Field(10.0, gt=0, description="Sweeps per second.")
    mounting_height: float = Field(1.73, gt=0, description="Sensor height above the road, metres.")


class CouplingConfig(_Section):
    """The two directions of the reciprocal loop; each can be switched off to measure it."""

    map_to_detection: bool = Field(True, description="The static map gates detection (new in free space).")
    tracks_to_map: bool = Field(True, description="Points of moving tracks are kept out of the static map.")


class AnnotatorConfig(_Section):
    """Commonsense annotations of confirmed tracks."""

    enabled: bool = Field(False, description="Run the vision-language annotator on confirmed tracks.")
    adapter: str | None = Field(None, description="Adapter file (safetensors); None uses the shipped default.")
    threshold: float | None = Field(None, description="Score threshold; None uses the calibrated one.")


class S2MATConfig(_Section):
    """The whole configuration of an s2mat run."""

    sensor: SensorConfig = Field(default_factory=SensorConfig)
    odometry: OdometryConfig = Field(default_factory=OdometryConfig)
    mapping: StaticMapConfig = Field(default_factory=StaticMapConfig)
    ground: GroundConfig = Field(default_factory=GroundConfig)
    clustering: ClusteringConfig = Field(default_factory=ClusteringConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    coupling: CouplingConfig = Field(default_factory=CouplingConfig)
    annotator: AnnotatorConfig = Field(default_factory=AnnotatorConfig)


# Sensor presets adjust only sensor-dependent values. Ranges follow the data sheets.
SENSOR_PRESETS: dict[str, dict[str, Any]] = {
    "vlp16": {"sensor": {"min_range": 1.0, "max_range": 100.0, "mounting_height": 1.8},
              "clustering": {"voxel_size": 0.4, "min_points": 5}},
    "hdl64": {"sensor": {"min_range": 2.0, "max_range": 120.0, "mounting_height": 1.73}},
    "os1-32": {"sensor": {"min_range": 1.0, "max_range": 120.0, "mounting_height": 1.8},
               "clustering": {"voxel_size": 0.35, "min_points": 6}},
    "os1-64": {"sensor": {"min_range": 1.0, "max_range": 120.0, "mounting_height": 1.8}},
}


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: dict[str, Any], source: str) -> S2MATConfig:
    try:
        return S2MATConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration in {source}: {problems}") from None


def preset(name: str) -> S2MATConfig:
    """Default configuration adjusted for the named sensor preset."""
    key = name.lower()
    if key not in SENSOR_PRESETS:
        raise ConfigError(f"unknown sensor preset {name!r}; known presets: {', '.join(SENSOR_PRESETS)}")
    data = _merge(S2MATConfig().model_dump(), SENSOR_PRESETS[key])
    data["sensor"]["preset"] = key
    return _validate(data, f"preset {key!r}")


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``section.key=value`` into the dotted key and a YAML-typed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return key.strip(), value


def with_overrides(config: S2MATConfig, overrides: dict[str, Any] | list[str]) -> S2MATConfig:
    """A copy of ``config`` with dotted-key overrides applied (``{"mapping.voxel_size": 0.2}``
    or ``["mapping.voxel_size=0.2"]``). Unknown keys raise :class:`ConfigError`."""
    items = dict(parse_override(o) for o in overrides) if isinstance(overrides, list) else overrides
    data = config.model_dump()
    for dotted, value in items.items():
        node: Any = data
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"unknown configuration key {where!r} (in override {dotted!r})")
            if i == len(parts) - 1:
                if isinstance(node[part], dict):
                    raise ConfigError(f"override {dotted!r} names a section, not a value")
                node[part] = value
            else:
                node = node[part]
    return _validate(data, "overrides")


def flatten(config: S2MATConfig) -> dict[str, Any]:
    """Every leaf setting under its dotted key (the ROS 2 parameter names)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        else:
            out[prefix] = node

    walk("", config.model_dump())
    return out


def read_yaml_mapping(path: str | os.PathLike[str], what: str, shape: str) -> dict[str, Any]:
    """The mapping at the top of a YAML file; :class:`ConfigError` naming ``what`` (e.g.
    "configuration file") when the file is missing, is not YAML, or is not ``shape``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must {shape}")
    return data


def load_config(path: str | os.PathLike[str] | None = None, *, sensor: str | None = None,
                overrides: list[str] | dict[str, Any] | None = None) -> S2MATConfig:
    """Build a configuration: defaults, then a sensor preset, then a YAML file, then overrides."""
    config = preset(sensor) if sensor else S2MATConfig()
    if path is not None:
        loaded = read_yaml_mapping(path, "configuration file", "hold a mapping of sections")
        config = _validate(_merge(config.model_dump(), loaded), str(path))
    if overrides:
        config = with_overrides(config, overrides)
    return config


def save_config(config: S2MATConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` as YAML atomically; a directory path gets ``config.yaml`` inside it."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# s2mat effective configuration\n" + yaml.safe_dump(config.model_dump(), sort_keys=False)
    atomic_write_text(path, text)
    return path
