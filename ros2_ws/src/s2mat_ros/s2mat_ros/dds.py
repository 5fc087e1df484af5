"""DDS settings that s2mat's ROS 2 processes need before they create a participant."""

from __future__ import annotations

import os
from pathlib import Path

LARGE_DATA_PROFILE = Path(__file__).with_name("fastdds_large_data.xml")
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def use_large_data_profile() -> None:
    """Point Fast DDS at s2mat's large-data profile unless the user chose a profile already.

    Call before ``rclpy.init``: a full 64-beam scan (2-3 MB) does not fit Fast DDS's default
    0.5 MB shared-memory segment, and best-effort subscribers then lose most scans.
    """
    if not any(os.environ.get(name) for name in PROFILE_VARIABLES):
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(LARGE_DATA_PROFILE)
