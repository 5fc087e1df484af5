"""The s2mat graph on simulated time, fed by ``s2mat replay BAG --clock``, and RViz.

    ros2 launch launch/s2mat_replay.launch.py bag:=BAG [rate:=1.0] [params:=FILE] [rviz:=true] [annotator:=true]
"""

from pathlib import Path

from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

HERE = Path(__file__).resolve().parent
PARAMS = str(HERE / "params.yaml")
RVIZ = str(HERE / "s2mat.rviz")
NODES = {"mapping": "s2mat_mapping", "perception": "s2mat_perception"}


def generate_launch_description() -> LaunchDescription:
    params = LaunchConfiguration("params")
    actions = [
        DeclareLaunchArgument("bag", description="rosbag2 to replay (folder, .mcap or .db3)."),
        DeclareLaunchArgument("rate", default_value="1.0", description="Replay speed factor."),
        DeclareLaunchArgument("params", default_value=PARAMS, description="ROS 2 parameters file of the nodes."),
        DeclareLaunchArgument("rviz", default_value="true", description="Start RViz with launch/s2mat.rviz."),
        DeclareLaunchArgument("annotator", default_value="false", description="Start the commonsense annotator node."),
        DeclareLaunchArgument("camera_T_lidar", default_value="[0.0]",
                              description="Camera extrinsic for the annotator: 16 numbers, row-major 4x4."),
    ]
    annotator = LaunchConfiguration("annotator")
    actions.append(Node(package="s2mat_ros", executable="s2mat_annotator", name="annotator", output="screen",
                        parameters=[params, {"use_sim_time": True, "annotator.enabled": True,
                                             "camera_T_lidar": LaunchConfiguration("camera_T_lidar")}],
                        condition=IfCondition(annotator)))
    for name, executable in NODES.items():
        actions.append(Node(package="s2mat_ros", executable=executable, name=name, output="screen",
                            parameters=[params, {"use_sim_time": True}]))
    actions.append(ExecuteProcess(cmd=["s2mat", "replay", LaunchConfiguration("bag"), "--rate",
                                       LaunchConfiguration("rate"), "--clock", "--delay", "3"], output="screen"))
    actions.append(Node(package="rviz2", executable="rviz2", arguments=["-d", RVIZ],
                        parameters=[{"use_sim_time": True}], condition=IfCondition(LaunchConfiguration("rviz"))))
    return LaunchDescription(actions)
