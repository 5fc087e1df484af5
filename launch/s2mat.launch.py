"""Start the s2mat graph: mapping and perception nodes with launch/params.yaml.

    ros2 launch launch/s2mat.launch.py [params:=FILE] [use_sim_time:=true] [annotator:=true camera_T_lidar:=[...]]

Where the ROS 2 launch tooling is absent, ``s2mat ros up --params launch/params.yaml
[--processes]`` starts the same graph.
"""

from pathlib import Path

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PARAMS = str(Path(__file__).resolve().parent / "params.yaml")
NODES = {"mapping": "s2mat_mapping", "perception": "s2mat_perception"}


def generate_launch_description() -> LaunchDescription:
    params = LaunchConfiguration("params")
    sim_time = LaunchConfiguration("use_sim_time")
    actions = [
        DeclareLaunchArgument("params", default_value=PARAMS, description="ROS 2 parameters file of the nodes."),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Follow /clock."),
        DeclareLaunchArgument("annotator", default_value="false", description="Start the commonsense annotator node."),
        DeclareLaunchArgument("camera_T_lidar", default_value="[0.0]",
                              description="Camera extrinsic for the annotator: 16 numbers, row-major 4x4."),
    ]
    annotator = LaunchConfiguration("annotator")
    actions.append(Node(package="s2mat_ros", executable="s2mat_annotator", name="annotator", output="screen",
                        parameters=[params, {"use_sim_time": sim_time, "annotator.enabled": True,
                                             "camera_T_lidar": LaunchConfiguration("camera_T_lidar")}],
                        condition=IfCondition(annotator)))
    for name, executable in NODES.items():
        actions.append(Node(package="s2mat_ros", executable=executable, name=name, output="screen",
                            parameters=[params, {"use_sim_time": sim_time}]))
    return LaunchDescription(actions)
