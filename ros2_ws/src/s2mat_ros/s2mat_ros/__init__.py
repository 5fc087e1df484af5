"""ROS 2 nodes of s2mat: thin wrappers that convert messages and call the s2mat library."""
