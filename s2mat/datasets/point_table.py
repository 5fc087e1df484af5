"""The packed little-endian table that point-file writers store: x, y, z and per-point fields."""

from __future__ import annotations

import numpy as np


def point_table(points: np.ndarray, fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """A structured array: float32 x, y, z of the ``(N, 3)`` points, then each scalar field in
    its own dtype (little endian; booleans as uint8). Raises ``ValueError`` on a length mismatch."""
    points = np.asarray(points)
    columns = [("x", points[:, 0].astype("<f4")), ("y", points[:, 1].astype("<f4")), ("z", points[:, 2].astype("<f4"))]
    for name, values in (fields or {}).items():
        values = np.asarray(values).reshape(-1)
        if len(values) != len(points):
            raise ValueError(f"field {name!r} has {len(values)} values for {len(points)} points")
        if values.dtype.kind == "b":
            values = values.astype("<u1")
        columns.append((name, values.astype(values.dtype.newbyteorder("<"))))
    table = np.empty(len(points), dtype=np.dtype([(n, v.dtype) for n, v in columns]))
    for name, values in columns:
        table[name] = values
    return table
