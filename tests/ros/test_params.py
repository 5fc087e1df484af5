"""Node parameters: the parameters file check and the types of the node settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from s2mat.config import S2MATConfig, flatten
from s2mat.errors import ConfigError
from s2mat_ros.params import NODE_SETTINGS, check_params_file, setting

LAUNCH_PARAMS = Path(__file__).resolve().parents[2] / "launch" / "params.yaml"


def _params_file(tmp_path, **params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


def test_a_whole_number_is_taken_for_a_decimal_setting_and_other_types_are_named(tmp_path):
    period = setting("map_full_period", 30, 10.0)
    assert period == 30.0 and isinstance(period, float)
    assert setting("camera_T_lidar", [1, 0.5], [0.0]) == [1.0, 0.5]
    assert setting("max_pending", 3, 1) == 3
    assert check_params_file(_params_file(tmp_path, map_full_period=30, max_pending=2))["map_full_period"] == 30
    with pytest.raises(ConfigError, match=r"params\.yaml: setting 'map_full_period' must be float"):
        check_params_file(_params_file(tmp_path, map_full_period="often"))
    with pytest.raises(ConfigError, match="'max_pending' must be int"):
        check_params_file(_params_file(tmp_path, max_pending=1.5))
    with pytest.raises(ConfigError, match="'input_reliable' must be bool"):
        setting("input_reliable", 1, False)


def test_the_shipped_parameters_file_gives_the_defaults_of_s2mat_map():
    """launch/params.yaml states every setting a ROS parameter can hold (not None) at its
    default, so a graph started with it maps as ``s2mat map`` does."""
    values = check_params_file(LAUNCH_PARAMS)
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in flatten(S2MATConfig()).items()}
    expected = {**NODE_SETTINGS, **{k: v for k, v in defaults.items() if v is not None}}
    assert set(values) == set(expected), f"missing {set(expected) - set(values)}, extra {set(values) - set(expected)}"
    assert {k: v for k, v in values.items() if v != expected[k]} == {}
