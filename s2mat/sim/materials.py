"""Semantic classes (SemanticKITTI ids) and the surface materials the sensors see.

Reflectivity is the diffuse return strength in ``[0, 1]`` used for LiDAR intensity; colour
is the albedo the camera renders (RGB, 0-255).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# SemanticKITTI label ids.
CAR = 10
BICYCLE = 11
PERSON = 30
BICYCLIST = 31
ROAD = 40
PARKING = 44
SIDEWALK = 48
BUILDING = 50
FENCE = 51
LANE_MARKING = 60
VEGETATION = 70
TRUNK = 71
TERRAIN = 72
POLE = 80
TRAFFIC_SIGN = 81
MOVING_CAR = 252
MOVING_BICYCLIST = 253
MOVING_PERSON = 254

#: The SemanticKITTI id a point of a moving object gets, by its static class id.
MOVING_ID = {CAR: MOVING_CAR, PERSON: MOVING_PERSON, BICYCLIST: MOVING_BICYCLIST}


@dataclass(frozen=True)
class Material:
    """What a surface returns: LiDAR reflectivity in [0, 1] and camera albedo (RGB)."""

    reflectivity: float
    color: tuple[int, int, int]


MATERIALS: dict[str, Material] = {
    "asphalt": Material(0.12, (70, 70, 75)),
    "paint": Material(0.75, (235, 235, 225)),
    "concrete": Material(0.3, (165, 160, 150)),
    "curb": Material(0.35, (185, 180, 170)),
    "grass": Material(0.45, (80, 130, 60)),
    "facade_brick": Material(0.28, (150, 85, 65)),
    "facade_plaster": Material(0.4, (205, 195, 170)),
    "facade_glass": Material(0.08, (90, 110, 130)),
    "facade_grey": Material(0.3, (130, 130, 135)),
    "bark": Material(0.25, (90, 65, 45)),
    "leaves": Material(0.5, (55, 110, 45)),
    "metal_pole": Material(0.4, (110, 110, 115)),
    "sign": Material(0.95, (200, 30, 30)),
    "car_paint": Material(0.45, (180, 180, 185)),
    "clothing": Material(0.3, (60, 60, 140)),
    "bicycle": Material(0.35, (30, 30, 30)),
}

#: Car body colours the scenario builder picks from.
CAR_COLORS = [(200, 30, 30), (30, 60, 160), (230, 230, 230), (25, 25, 25), (150, 150, 155), (40, 120, 60),
              (220, 180, 40), (110, 60, 30)]
#: Clothing colours for people.
CLOTHING_COLORS = [(60, 60, 140), (150, 40, 40), (40, 40, 40), (200, 200, 60), (60, 130, 130), (220, 220, 220)]

SKY_TOP = np.array([120, 165, 220], dtype=np.float64)
SKY_HORIZON = np.array([200, 220, 235], dtype=np.float64)
