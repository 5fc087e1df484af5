"""Reader and writer of KITTI tracking files: 3D detections, labels / results, calibration.

Layout of a root (as in ``shared/data/kitti_tracking``)::

    detection/<detector>_{Car,Pedestrian,Cyclist}/<seq>.txt   frame,type,x1,y1,x2,y2,score,h,w,l,x,y,z,ry,alpha
    label/<seq>.txt      frame id type truncated occluded alpha x1 y1 x2 y2 h w l x y z ry [score]
    calib/<seq>.txt      P0..P3, R_rect / R0_rect, Tr_velo_cam / Tr_velo_to_cam, ...

KITTI boxes are in the rectified camera frame (x right, y down, z forward) with (x, y, z)
the centre of the box's *bottom* face and ``ry`` the rotation about the camera's y axis.
:func:`camera_to_zup` and :func:`zup_to_camera` convert to and from the z-up tracking frame
``X = z_cam, Y = -x_cam, Z = -y_cam`` with the box centre at the middle of its volume, so
the tracker sees ordinary upright boxes ``[x, y, z, length, width, height, yaw]``.
Malformed lines raise :class:`~s2mat.errors.CorruptFileError` naming ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2mat.errors import CorruptFileError, DatasetError

DETECTION_COLUMNS = 15
LABEL_COLUMNS = 17
DETECTION_TYPES = {1: "Pedestrian", 2: "Car", 3: "Cyclist"}
CLASS_NAMES = ("Car", "Pedestrian", "Cyclist")


@dataclass(frozen=True)
class KittiObjects:
    """Rows of one KITTI tracking file, as arrays of equal length N.

    ``boxes_cam`` is (N, 7) ``[h, w, l, x, y, z, ry]`` in the camera frame (bottom-centre);
    ``bbox2d`` is (N, 4) ``[x1, y1, x2, y2]`` pixels; ``track_id`` is -1 for detections.
    """

    frame: np.ndarray
    track_id: np.ndarray
    type: np.ndarray  # (N,) str, KITTI type names ("Car", "Van", "DontCare", ...)
    truncated: np.ndarray
    occluded: np.ndarray
    alpha: np.ndarray
    bbox2d: np.ndarray
    boxes_cam: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    def select(self, mask: np.ndarray) -> KittiObjects:
        return KittiObjects(**{k: getattr(self, k)[mask] for k in self.__dataclass_fields__})

    @staticmethod
    def concatenate(parts: Iterable[KittiObjects]) -> KittiObjects:
        parts = list(parts)
        if not parts:
            return _empty()
        return KittiObjects(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in KittiObjects.__dataclass_fields__})


def _empty() -> KittiObjects:
    return KittiObjects(
        frame=np.zeros(0, np.int64), track_id=np.zeros(0, np.int64), type=np.zeros(0, dtype="<U16"),
        truncated=np.zeros(0), occluded=np.zeros(0, np.int64), alpha=np.zeros(0), bbox2d=np.zeros((0, 4)),
        boxes_cam=np.zeros((0, 7)), score=np.zeros(0),
    )


def _numbers(path: Path, lineno: int, fields: list[str]) -> list[float]:
    try:
        values = [float(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not _is_float(f))
        raise CorruptFileError(f"{path}:{lineno}: non-numeric value {bad!r}") from None
    if not np.all(np.isfinite(values)):
        raise CorruptFileError(f"{path}:{lineno}: non-finite value")
    return values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CorruptFileError(f"{path}: not a text file") from None
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_detections(path: Path) -> KittiObjects:
    """Read a comma-separated 3D detection file (15 columns per line)."""
    path = Path(path)
    rows, types = [], []
    for lineno, line in _lines(path):
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != DETECTION_COLUMNS:
            raise CorruptFileError(
                f"{path}:{lineno}: expected {DETECTION_COLUMNS} comma-separated columns, found {len(fields)}"
            )
        values = _numbers(path, lineno, fields)
        code = int(values[1])
        if code not in DETECTION_TYPES or values[1] != code:
            raise CorruptFileError(f"{path}:{lineno}: unknown object type code {fields[1]!r} (expected 1, 2 or 3)")
        if values[0] < 0 or values[0] != int(values[0]):
            raise CorruptFileError(f"{path}:{lineno}: frame index {fields[0]!r} is not a non-negative integer")
        rows.append(values)
        types.append(DETECTION_TYPES[code])
    if not rows:
        return _empty()
    a = np.array(rows)
    return KittiObjects(
        frame=a[:, 0].astype(np.int64), track_id=np.full(len(a), -1, np.int64), type=np.array(types),
        truncated=np.zeros(len(a)), occluded=np.zeros(len(a), np.int64), alpha=a[:, 14],
        bbox2d=a[:, 2:6], boxes_cam=a[:, 7:14], score=a[:, 6],
    )


def read_labels(path: Path) -> KittiObjects:
    """Read a space-separated KITTI tracking label or result file (17 or 18 columns)."""
    path = Path(path)
    rows, types = [], []
    for lineno, line in _lines(path):
        fields = line.split()
        if len(fields) not in (LABEL_COLUMNS, LABEL_COLUMNS + 1):
            raise CorruptFileError(
                f"{path}:{lineno}: expected {LABEL_COLUMNS} or {LABEL_COLUMNS + 1} columns, found {len(fields)}"
            )
        values = _numbers(path, lineno, fields[:2] + fields[3:])
        if len(fields) == LABEL_COLUMNS:
            values.append(0.0)
        rows.append(values)
        types.append(fields[2])
    if not rows:
        return _empty()
    a = np.array(rows)
    return KittiObjects(
        frame=a[:, 0].astype(np.int64), track_id=a[:, 1].astype(np.int64), type=np.array(types),
        truncated=a[:, 2], occluded=a[:, 3].astype(np.int64), alpha=a[:, 4], bbox2d=a[:, 5:9],
        boxes_cam=a[:, 9:16], score=a[:, 16],
    )


def write_results(path: Path, objects: KittiObjects) -> None:
    """Write tracking results in KITTI format (18 columns, the last one the score)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    order = np.lexsort((objects.track_id, objects.frame))
    lines = []
    for i in order:
        b, h = objects.bbox2d[i], objects.boxes_cam[i]
        lines.append(
            f"{objects.frame[i]} {objects.track_id[i]} {objects.type[i]} {objects.truncated[i]:g} "
            f"{objects.occluded[i]} {objects.alpha[i]:.6f} {b[0]:.4f} {b[1]:.4f} {b[2]:.4f} {b[3]:.4f} "
            f"{h[0]:.6f} {h[1]:.6f} {h[2]:.6f} {h[3]:.6f} {h[4]:.6f} {h[5]:.6f} {h[6]:.6f} {objects.score[i]:.6f}"
        )
    path.write_text("\n".join(lines) + ("\n" if lines else ""))


@dataclass(frozen=True)
class KittiCalib:
    """Calibration of one sequence: ``P2`` (3, 4) left colour camera, ``R0`` (3, 3), ``velo_to_cam`` (4, 4)."""

    P2: np.ndarray
    R0: np.ndarray
    velo_to_cam: np.ndarray

    def project_boxes(self, boxes_cam: np.ndarray) -> np.ndarray:
        """Image bounding rectangles (N, 4) of camera-frame boxes ``[h, w, l, x, y, z, ry]``.

        Corners behind the camera are clamped to 0.1 m depth.
        """
        corners = camera_box_corners(boxes_cam)  # (N, 8, 3)
        hom = np.concatenate([corners, np.ones(corners.shape[:2] + (1,))], axis=-1)
        uvw = hom @ self.P2.T
        depth = np.maximum(uvw[..., 2], 0.1)
        uv = uvw[..., :2] / depth[..., None]
        return np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)


def read_calib(path: Path) -> KittiCalib:
    """Read a KITTI tracking calibration file (``name: v1 v2 ...`` per line)."""
    path = Path(path)
    entries: dict[str, np.ndarray] = {}
    for lineno, line in _lines(path):
        name, _, rest = line.partition(":") if ":" in line else line.partition(" ")
        entries[name.strip()] = np.array(_numbers(path, lineno, rest.split()))
    p2 = entries.get("P2")
    r0 = entries.get("R0_rect", entries.get("R_rect"))
    tr = entries.get("Tr_velo_to_cam", entries.get("Tr_velo_cam"))
    for key, value, size in (("P2", p2, 12), ("R0_rect", r0, 9), ("Tr_velo_to_cam", tr, 12)):
        if value is None or value.size != size:
            raise CorruptFileError(f"{path}: missing or malformed {key} (expected {size} numbers)")
    velo = np.eye(4)
    velo[:3] = tr.reshape(3, 4)
    return KittiCalib(P2=p2.reshape(3, 4), R0=r0.reshape(3, 3), velo_to_cam=velo)


def camera_box_corners(boxes_cam: np.ndarray) -> np.ndarray:
    """The 8 corners (N, 8, 3) of camera-frame KITTI boxes ``[h, w, l, x, y, z, ry]``."""
    b = np.asarray(boxes_cam, dtype=np.float64).reshape(-1, 7)
    h, w, l = b[:, 0:1], b[:, 1:2], b[:, 2:3]  # noqa: E741
    xs = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * 0.5 * l
    ys = np.array([0, 0, 0, 0, -1, -1, -1, -1]) * h
    zs = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * 0.5 * w
    c, s = np.cos(b[:, 6:7]), np.sin(b[:, 6:7])
    x = c * xs + s * zs + b[:, 3:4]
    z = -s * xs + c * zs + b[:, 5:6]
    y = ys + b[:, 4:5]
    return np.stack([x, y, z], axis=-1)


def camera_to_zup(boxes_cam: np.ndarray) -> np.ndarray:
    """KITTI camera boxes ``[h, w, l, x, y, z, ry]`` to z-up boxes ``[x, y, z, l, w, h, yaw]``.

    z-up frame: X forward (= z_cam), Y left (= -x_cam), Z up (= -y_cam). The KITTI centre is
    on the bottom face, so the volume centre is ``h / 2`` above it. A heading ``ry`` points
    along camera ``(cos ry, 0, -sin ry)``, which is yaw ``-ry - pi/2`` in the z-up frame.
    """
    b = np.asarray(boxes_cam, dtype=np.float64).reshape(-1, 7)
    out = np.empty_like(b)
    out[:, 0] = b[:, 5]
    out[:, 1] = -b[:, 3]
    out[:, 2] = -(b[:, 4] - b[:, 0] / 2.0)
    out[:, 3], out[:, 4], out[:, 5] = b[:, 2], b[:, 1], b[:, 0]
    out[:, 6] = (-b[:, 6] - np.pi / 2.0 + np.pi) % (2 * np.pi) - np.pi
    return out


def zup_to_camera(boxes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`camera_to_zup`."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    out = np.empty_like(b)
    out[:, 0], out[:, 1], out[:, 2] = b[:, 5], b[:, 4], b[:, 3]
    out[:, 3] = -b[:, 1]
    out[:, 4] = -b[:, 2] + b[:, 5] / 2.0
    out[:, 5] = b[:, 0]
    out[:, 6] = (-b[:, 6] - np.pi / 2.0 + np.pi) % (2 * np.pi) - np.pi
    return out


class KittiTrackingDetections:
    """Detections of a KITTI tracking root, per sequence and frame.

    ``root`` holds ``detection/`` (or is itself the ``detection`` folder) with one
    sub-folder per class ``<detector>_<Class>``; optional ``calib/`` next to it.
    """

    def __init__(self, root: Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: not a folder")
        det_root = root / "detection" if (root / "detection").is_dir() else root
        self.class_dirs = {
            name: d for d in sorted(det_root.iterdir()) if d.is_dir()
            for name in CLASS_NAMES if d.name.endswith(f"_{name}")
        }
        if not self.class_dirs:
            raise DatasetError(f"{det_root}: no <detector>_Car / _Pedestrian / _Cyclist folders of detections")
        self.calib_root = det_root.parent / "calib" if (det_root.parent / "calib").is_dir() else None
        seqs = set()
        for d in self.class_dirs.values():
            seqs |= {p.stem for p in d.glob("*.txt")}
        self.sequences = sorted(seqs)
        if not self.sequences:
            raise DatasetError(f"{det_root}: no detection files (<seq>.txt)")

    def detections(self, seq: str) -> KittiObjects:
        """All detections of one sequence, every class."""
        parts = [read_detections(d / f"{seq}.txt") for d in self.class_dirs.values() if (d / f"{seq}.txt").is_file()]
        if not parts:
            raise DatasetError(f"sequence {seq}: no detection file in {', '.join(map(str, self.class_dirs.values()))}")
        return KittiObjects.concatenate(parts)

    def calib(self, seq: str) -> KittiCalib | None:
        if self.calib_root is None or not (self.calib_root / f"{seq}.txt").is_file():
            return None
        return read_calib(self.calib_root / f"{seq}.txt")
