"""Spherical range image of one scan, used to decide which space the scan saw as free.

A beam that returns at range ``r`` saw every point on its way up to ``r`` as empty. Rather
than walking each of ~10^5 rays through the voxel grid, the test is turned around: a map
voxel is *seen through* when the scan's nearest return in the voxel's direction (over a small
pixel window, so beams just beside it also count) lies clearly behind it. That is one
projection per voxel, vectorised, and it is conservative at grazing angles: the window's
lowest beam on the road ends before a road voxel, so the road is not carved.
"""

from __future__ import annotations

import numpy as np


class RangeImage:
    """Nearest return per angular bin (sensor frame) of one scan.

    ``az_res``/``el_res`` are bin sizes in radians; ``window`` is the half width in pixels of
    the neighbourhood whose nearest return must lie behind a tested point. Pixels without a
    return never testify that space is free.
    """

    def __init__(self, points_sensor: np.ndarray, az_res: float, el_res: float, window: int,
                 beams: bool = False) -> None:
        self.az_res = float(az_res)
        self.el_res = float(el_res)
        self.cols = int(np.ceil(2 * np.pi / self.az_res))
        self.single: np.ndarray | None = None
        self.elevation: np.ndarray | None = None
        pts = np.asarray(points_sensor)
        row, col, rng, el = self._project(columns32(pts))
        if len(pts) == 0:
            self.row0 = 0
            self.nearest = np.zeros((0, self.cols), dtype=np.float32)
            return
        self.row0 = int(row.min())
        rows = int(row.max()) - self.row0 + 1
        img = np.full((rows, self.cols), np.inf, dtype=np.float32)
        pixel = (row - self.row0).astype(np.intp) * self.cols + col  # flat indices: ufunc.at and take are far faster in 1-D
        np.minimum.at(img.ravel(), pixel, rng)
        nearest = window_minimum(img, int(window))
        nearest[np.isinf(img)] = 0.0
        self.nearest = nearest
        if beams:
            # Per pixel: the nearest return without the window and its beam's elevation, so a
            # point can also be tested against the one beam that really crossed it.
            first = rng <= img.ravel().take(pixel)
            elevation = np.full(img.shape, np.nan, dtype=np.float32)
            elevation.ravel()[pixel[first]] = el[first]
            single = img.copy()
            single[np.isinf(single)] = 0.0
            self.single, self.elevation = single, elevation

    def _project(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pixel row and column (int32), range and elevation of (3, N) float32 sensor-frame
        coordinates, one row per axis. float32 is a few times faster than float64 and its error
        is far below a pixel; each step writes into the arrays of the last (one pass each)."""
        x, y, z = xyz
        flat = x * x
        flat += y * y
        rng = z * z
        rng += flat
        np.sqrt(rng, out=rng)
        np.sqrt(flat, out=flat)
        el = np.arctan2(z, flat)
        half_pi = np.float32(np.pi / 2)
        az = np.arctan2(y, x, out=flat)
        az += 2 * half_pi  # in [0, 2 pi]: truncation is the floor
        az *= np.float32(1.0 / self.az_res)
        col = az.astype(np.int32)
        col[col >= self.cols] -= self.cols  # azimuth pi wraps to column 0
        at = el + half_pi
        at *= np.float32(1.0 / self.el_res)
        return at.astype(np.int32), col, rng, el

    def _padded(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The images flattened with one empty row above and below (range 0: no return,
        elevation NaN), so any projected row can be clipped into them and read with one
        ``take``. Built on first use (images loaded from a saved map are set directly)."""
        padded = getattr(self, "_flat", None)
        if padded is None:
            def pad(image: np.ndarray | None, fill: float) -> np.ndarray | None:
                if image is None:
                    return None
                edge = np.full((1, image.shape[1]), fill, dtype=np.float32)
                return np.concatenate([edge, image.astype(np.float32), edge]).ravel()

            padded = (pad(self.nearest, 0.0), pad(self.single, 0.0), pad(self.elevation, np.nan))
            self._flat = padded
        return padded

    def seen_through(self, xyz: np.ndarray, margin: float, margin_ratio: float,
                     beam_radius: float | None = None) -> np.ndarray:
        """(N,) bool: the scan's returns around each point lie more than
        ``margin + margin_ratio * range`` metres behind it. ``xyz`` holds the points' sensor-frame
        coordinates as (3, N) float32, one row per axis (:func:`mapping.geometry.transform32_columns`).

        With ``beam_radius`` (metres, needs an image built with ``beams=True``) a point also
        counts as seen through when the beam of its own pixel passes within ``beam_radius``
        of it vertically and returns that far behind it: near the road the window's lower beam
        ends early, but the beam that really crossed a point says the space is empty."""
        return seen_through_scans([self], xyz[:, None, :], margin, margin_ratio, beam_radius)[0]


def seen_through_scans(images: list[RangeImage], xyz: np.ndarray, margin: float, margin_ratio: float,
                       beam_radius: float | None = None) -> np.ndarray:
    """(S, N) bool: :meth:`RangeImage.seen_through` of each of the S ``images`` (same bins) on
    its own points, ``xyz`` (3, S, N) float32 (row ``s`` in the frame of scan ``s``). The
    arithmetic runs once over all S * N points, the lookups once per image: for a few thousand
    points, asking 30 images this way costs about a third of asking them one by one."""
    count = xyz.shape[2]
    out = np.zeros((len(images), count), dtype=bool)
    if count == 0 or not images:
        return out
    first = images[0]
    row, col, rng, el = first._project(np.ascontiguousarray(xyz, dtype=np.float32).reshape(3, -1))
    row = row.reshape(len(images), count)
    rows = np.array([image.nearest.shape[0] for image in images])
    row -= (np.array([image.row0 for image in images]) - 1).astype(np.int32)[:, None]
    np.clip(row, 0, (rows + 1).astype(np.int32)[:, None], out=row)
    pixel = row.astype(np.intp)
    pixel *= first.cols
    pixel += col.reshape(len(images), count)
    limit = rng * np.float32(1.0 + margin_ratio)
    limit += np.float32(margin)
    limit = limit.reshape(len(images), count)
    padded = [image._padded() for image in images]
    # Images without returns see nothing through; those built with beams take the beam test.
    beams = np.array([beam_radius is not None and single is not None and rows[s] > 0
                      for s, (_, single, _) in enumerate(padded)])
    for s, (nearest, single, _) in enumerate(padded):
        if rows[s]:
            out[s] = (single if beams[s] else nearest).take(pixel[s]) > limit[s]
    if not beams.any():
        return out
    # The pixel's own return is never nearer than its window's nearest: only points it lies
    # behind (a few in a hundred of a map's voxels) take the two tests.
    behind = np.flatnonzero(out if beams.all() else out & beams[:, None])
    bounds = np.searchsorted(behind, np.arange(len(images) + 1) * count)
    flat_pixel, flat_limit = pixel.reshape(-1).take(behind), limit.reshape(-1).take(behind)
    nearest_at, off = np.empty(len(behind), np.float32), np.empty(len(behind), np.float32)
    for s in np.flatnonzero(beams).tolist():
        nearest, _, elevation = padded[s]
        part = slice(bounds[s], bounds[s + 1])
        nearest_at[part] = nearest.take(flat_pixel[part])
        off[part] = elevation.take(flat_pixel[part])
    off -= el.take(behind)
    np.abs(off, out=off)
    off *= rng.take(behind)
    out.reshape(-1)[behind] = (nearest_at > flat_limit) | (off <= np.float32(beam_radius))
    return out


def columns32(points: np.ndarray) -> np.ndarray:
    """(3, N) float32 coordinates of (N, 3) points, one contiguous row per axis."""
    return np.ascontiguousarray(np.asarray(points).T, dtype=np.float32)


def window_minimum(image: np.ndarray, half: int) -> np.ndarray:
    """Minimum of ``image`` over a (2 half + 1)^2 pixel window: rows clamp at the edges (the
    top and bottom beams), columns wrap around (azimuth). Separable, one shifted
    ``np.minimum`` per offset (several times faster than a generic filter)."""
    rows = image.copy()
    for s in range(1, half + 1):
        np.minimum(rows[s:], image[:-s], out=rows[s:])
        np.minimum(rows[:-s], image[s:], out=rows[:-s])
    out = rows.copy()
    for s in range(1, half + 1):
        np.minimum(out[:, s:], rows[:, :-s], out=out[:, s:])
        np.minimum(out[:, :s], rows[:, -s:], out=out[:, :s])
        np.minimum(out[:, :-s], rows[:, s:], out=out[:, :-s])
        np.minimum(out[:, -s:], rows[:, :s], out=out[:, -s:])
    return out
