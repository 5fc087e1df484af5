"""Far traffic: points beyond the clusters' reach that registration must not lock onto.

Far away the scan is too sparse for boxes and class guesses, yet a car there drags
scan-to-map registration with it when it drives away or along with the sensor: its points
come back about where the last scans put it, a metre or so off, and the space it moves into
was hidden behind it, so the map never saw it free. Height tells it from the structure
registration needs: a car, a van's cab or a walker stands at most ``far_object_height``
above the road, while facades, trunks under their crowns, poles and signs reach higher. The
far non-ground points are grouped coarsely (cells of a bird's-eye grid ``FAR_CELL_FACTOR``
clustering voxels wide, connected with their eight neighbours) and the points of low groups
are left out of registration. Low far structure (a parked car, a hedge, a low wall) is left
out too: registration loses a little support there, never its anchors.

Far points in space the map has seen free are the other half of far traffic; detection asks
the map about them together with its other questions (see :mod:`perception.detection`).
"""

from __future__ import annotations

import numpy as np

from perception.clustering import grid_pieces
from perception.config import ClusteringConfig

FAR_CELL_FACTOR = 2.0  # far groups' bird's-eye grid cell, in clustering voxels (far beams are sparse)
FAR_GRID_REACH = 300.0  # metres from the sensor along x and y: farther returns (outliers) are not grouped
# Metres above the ground: higher far points are not grouped, which cuts canopies (a crown over
# the road would join the cars under it). It is the clustering's cut (``max_z``, 1.5 m in the
# sensor frame) for a sensor 1.7 m above the road, measured from the ground so that it holds
# for a pitched sensor too: 2 degrees down put a sensor-frame cut 1.1 m above the road 60 m ahead,
# where it made facades look low (simulated street: 4.2 % of far structure points taken
# against 1.0 % with this cut).
FAR_CANOPY = 3.2


def far_points(points: np.ndarray, ground_mask: np.ndarray, reach: float) -> np.ndarray:
    """Indices of the non-ground points of an (N, 3) sensor-frame scan at least ``reach``
    metres away horizontally (empty for ``reach`` 0)."""
    if reach <= 0:
        return np.zeros(0, np.int64)
    pts = np.asarray(points)
    flat = pts[:, 0] * pts[:, 0]
    flat += pts[:, 1] * pts[:, 1]
    flat[np.asarray(ground_mask, dtype=bool)] = 0.0
    return np.flatnonzero(flat >= reach * reach)


def low_far_objects(points: np.ndarray, far: np.ndarray, above_ground: np.ndarray, clustering: ClusteringConfig,
                    height: float) -> np.ndarray:
    """Indices, among ``far`` (indices of non-ground points of the (N, 3) sensor-frame
    ``points``), of those in low objects: groups connected in a bird's-eye grid of
    ``FAR_CELL_FACTOR`` clustering voxels (of the points less than ``FAR_CANOPY`` above the
    ground) with no point more than ``height`` metres above the ground. ``above_ground``
    (len(far),) is each far point's height above the ground; where it is unknown (NaN) its
    group is not called low. Empty when ``height`` is 0."""
    far = np.asarray(far, dtype=np.int64)
    if height <= 0:
        return far[:0]
    pts = np.asarray(points)[far]
    above_ground = np.asarray(above_ground)
    # Returns beyond FAR_GRID_REACH (outliers of no lidar on a street) stay out of the grid.
    with np.errstate(invalid="ignore"):  # points of unknown height are grouped, and make their group tall
        below = np.flatnonzero(~(above_ground >= FAR_CANOPY) & (np.abs(pts[:, :2]).max(axis=1) < FAR_GRID_REACH))
    if not len(below):
        return far[:0]
    xy = pts[below, :2]
    group = grid_pieces(xy - xy.min(axis=0), FAR_CELL_FACTOR * clustering.voxel_size)[0]
    tall = np.zeros(int(group.max()) + 1, dtype=bool)
    with np.errstate(invalid="ignore"):
        tall[group[~(above_ground[below] <= height)]] = True  # NaN (ground unknown) counts as tall
    return far[below[~tall[group]]]
