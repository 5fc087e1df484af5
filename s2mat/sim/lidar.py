"""LiDAR presets and the ray layout of a spinning sensor.

Sensor frame: +x forward, +y left, +z up. The sensor sweeps counter-clockwise as seen from
above, starting behind the vehicle (azimuth -180 degrees) at the sweep start; column ``j``
fires at time ``j / columns * period`` after the frame timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LidarPreset:
    """A spinning LiDAR: vertical beam angles (degrees, top to bottom), columns per sweep and noise."""

    name: str
    elevations_deg: np.ndarray = field(repr=False)
    columns: int
    max_range: float  # metres
    min_range: float  # metres
    range_noise: float  # metres, 1-sigma
    dropout: float  # probability a return is lost regardless of surface
    frame_rate: float = 10.0  # sweeps per second
    mounting_height: float = 1.73  # metres above the road

    @property
    def rings(self) -> int:
        return len(self.elevations_deg)

    @property
    def period(self) -> float:
        return 1.0 / self.frame_rate


def _hdl64_elevations() -> np.ndarray:
    # HDL-64E: an upper block of 32 lasers from +2.0 to -8.33 deg (1/3 deg apart) and a lower
    # block of 32 from -8.83 to -24.33 deg (1/2 deg apart), as in the data sheet.
    return np.concatenate([np.linspace(2.0, -8.333, 32), np.linspace(-8.833, -24.333, 32)])


LIDAR_PRESETS: dict[str, LidarPreset] = {
    "vlp16": LidarPreset("vlp16", np.linspace(15.0, -15.0, 16), columns=1800, max_range=100.0, min_range=1.0,
                         range_noise=0.03, dropout=0.01, mounting_height=1.8),
    "hdl64": LidarPreset("hdl64", _hdl64_elevations(), columns=2048, max_range=120.0, min_range=2.0,
                         range_noise=0.02, dropout=0.02, mounting_height=1.73),
    # OS1 (Rev 6/7) uniform beam spacing over a 45 degree vertical field of view.
    "os1-32": LidarPreset("os1-32", np.linspace(22.5, -22.5, 32), columns=1024, max_range=120.0, min_range=1.0,
                          range_noise=0.025, dropout=0.01, mounting_height=1.8),
    "os1-64": LidarPreset("os1-64", np.linspace(22.5, -22.5, 64), columns=1024, max_range=120.0, min_range=1.0,
                          range_noise=0.025, dropout=0.01, mounting_height=1.8),
}


def column_azimuths(columns: int) -> np.ndarray:
    """Azimuth of each column in radians, increasing from -pi (behind) through 0 (ahead)."""
    return -np.pi + (np.arange(columns) + 0.5) * (2.0 * np.pi / columns)


def beam_directions(preset: LidarPreset, columns: int) -> np.ndarray:
    """Unit ray directions in the sensor frame, shape ``(columns, rings, 3)`` (column-major firing order)."""
    az = column_azimuths(columns)[:, None]
    el = np.deg2rad(np.asarray(preset.elevations_deg))[None, :]
    return np.stack(
        [np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.broadcast_to(np.sin(el), (columns, preset.rings))],
        axis=-1,
    )


def column_times(preset: LidarPreset, columns: int) -> np.ndarray:
    """Firing time of each column relative to the frame timestamp (sweep start), seconds."""
    return np.arange(columns) * (preset.period / columns)
