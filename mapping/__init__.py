"""Back end of s2mat: LiDAR odometry on static points and a static map with free-space carving."""
