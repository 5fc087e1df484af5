"""ament_python package of the s2mat ROS 2 nodes; installs with colcon or with pip."""

from glob import glob

from setuptools import find_packages, setup

package_name = "s2mat_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={package_name: ["*.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.py")),
    ],
    install_requires=["setuptools", "s2mat"],
    zip_safe=True,
    maintainer="s2mat developers",
    maintainer_email="dev@s2mat.org",
    description="ROS 2 nodes of s2mat: LiDAR mapping and multi-object tracking, rosbag replay.",
    license="MIT",
    entry_points={"console_scripts": [
        "s2mat_mapping = s2mat_ros.mapping_node:main",
        "s2mat_perception = s2mat_ros.perception_node:main",
        "s2mat_annotator = s2mat_ros.annotator_node:main",
        "s2mat_graph = s2mat_ros.graph:composed_main",
        "s2mat_record = s2mat_ros.recorder:main",
    ]},
)
