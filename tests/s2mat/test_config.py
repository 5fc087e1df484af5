import pytest
import yaml

from s2mat.config import (
    S2MATConfig,
    flatten,
    load_config,
    preset,
    save_config,
    with_overrides,
)
from s2mat.errors import ConfigError


def test_defaults_validate_and_flatten_to_dotted_keys():
    flat = flatten(S2MATConfig())
    assert "mapping.voxel_size" in flat
    assert "coupling.map_to_detection" in flat
    assert all("." in key for key in flat)


def test_dotted_override_changes_one_value_and_keeps_its_type():
    config = with_overrides(S2MATConfig(), ["mapping.voxel_size=0.35", "coupling.tracks_to_map=false"])
    assert config.mapping.voxel_size == pytest.approx(0.35)
    assert config.coupling.tracks_to_map is False
    assert config.odometry == S2MATConfig().odometry


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("mapping.no_such_key=1", "unknown configuration key 'mapping.no_such_key'"),
        ("nosection.x=1", "unknown configuration key 'nosection'"),
        ("mapping.voxel_size=-1", "mapping.voxel_size"),
        ("mapping.voxel_size", "section.key=value"),
        ("mapping=3", "names a section"),
    ],
)
def test_bad_override_raises_config_error_naming_the_key(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("'", "'")):
        with_overrides(S2MATConfig(), [override])


def test_sensor_presets_differ_only_in_sensor_dependent_values():
    vlp16, hdl64 = preset("vlp16"), preset("hdl64")
    assert vlp16.sensor.preset == "vlp16"
    assert vlp16.sensor.max_range != hdl64.sensor.max_range or vlp16.sensor.min_range != hdl64.sensor.min_range
    assert vlp16.tracking == hdl64.tracking
    with pytest.raises(ConfigError, match="unknown sensor preset 'hdl32'"):
        preset("hdl32")


def test_yaml_round_trip_with_preset_file_and_overrides(tmp_path):
    config = with_overrides(preset("os1-64"), {"sensor.frame_rate": 20.0})
    path = save_config(config, tmp_path)
    assert path.name == "config.yaml"
    assert load_config(path) == config
    layered = load_config(path, overrides=["sensor.frame_rate=5"])
    assert layered.sensor.frame_rate == 5
    assert layered.sensor.preset == "os1-64"


def test_partial_yaml_keeps_defaults_and_bad_yaml_is_reported(tmp_path):
    partial = tmp_path / "partial.yaml"
    partial.write_text(yaml.safe_dump({"mapping": {"voxel_size": 0.5}}))
    config = load_config(partial, sensor="vlp16")
    assert config.mapping.voxel_size == 0.5
    assert config.sensor.preset == "vlp16"
    broken = tmp_path / "broken.yaml"
    broken.write_text("mapping: [unclosed")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({"mapping": {"voxel_sise": 0.5}}))
    with pytest.raises(ConfigError, match="voxel_sise"):
        load_config(wrong)
