"""The s2mat graph on simulated time, fed by ``s2mat replay BAG --clock``, and RViz.

    ros2 launch launch/s2mat_replay.launch.py bag:=BAG [rate:=1.0] [rviz:=true]
        [params:=FILE] [annotator:=true camera_T_lidar:=[...]]

The nodes come from launch/s2mat.launch.py, included with ``use_sim_time:=true``; its other
arguments (params, annotator, camera_T_lidar) are given on this command line and reach it unchanged.
This file adds only the replay process and RViz.
"""

from pathlib import Path

from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

HERE = Path(__file__).resolve().parent
GRAPH = str(HERE / "s2mat.launch.py")
RVIZ = str(HERE / "s2mat.rviz")


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 to replay (folder, .mcap or .db3)."),
        DeclareLaunchArgument("rate", default_value="1.0", description="Replay speed factor."),
        DeclareLaunchArgument("rviz", default_value="true", description="Start RViz with launch/s2mat.rviz."),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(GRAPH),
                                 launch_arguments={"use_sim_time": "true"}.items()),
        ExecuteProcess(cmd=["s2mat", "replay", LaunchConfiguration("bag"), "--rate", LaunchConfiguration("rate"),
                            "--clock", "--delay", "3"], output="screen"),
        Node(package="rviz2", executable="rviz2", arguments=["-d", RVIZ], parameters=[{"use_sim_time": True}],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
