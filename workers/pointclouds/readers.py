"""Point-cloud files -> coordinates and per-point attributes (numpy in, numpy out).

The first piece of the point-cloud issue: every reader answers the same
:class:`PointCloud` (``xyz`` ``(N, 3) float64`` and named attributes) or raises
:class:`PointCloudError` with a code, before anything is stored. Readers use the
field's libraries: laspy (+ lazrs for LAZ) and plyfile; PCD, NumPy and text files are
read with numpy. The point count a header declares is checked against ``max_points``
before the points are read (a header cannot make us allocate a billion points)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

#: File suffixes this module reads.
SUFFIXES = (".las", ".laz", ".ply", ".pcd", ".npy", ".npz", ".xyz", ".txt")


class PointCloudError(ValueError):
    """A file that cannot become a point cloud; ``code`` names why (API error code)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class PointCloud:
    """``xyz``: ``(N, 3) float64``. ``attributes``: per-point arrays of length N:
    ``rgb`` ``(N, 3) uint8``, ``intensity``, ``return_number``, ``classification`` (an
    existing labelling, imported as labels only when asked), and others by name."""

    xyz: np.ndarray
    attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


def read_point_cloud(path: str | Path, max_points: int) -> PointCloud:
    """Read ``path`` by its suffix. Raises :class:`PointCloudError` (``unknown_format``,
    ``too_many_points``, ``no_points``, ``non_finite``, ``corrupt``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {
        ".las": _read_las,
        ".laz": _read_las,
        ".ply": _read_ply,
        ".pcd": _read_pcd,
        ".npy": _read_npy,
        ".npz": _read_npz,
        ".xyz": _read_text,
        ".txt": _read_text,
    }
    reader = readers.get(suffix)
    if reader is None:
        raise PointCloudError(
            f"{path.name}: not a point cloud this server reads ({', '.join(SUFFIXES)})",
            "unknown_format",
        )
    try:
        cloud = reader(path, max_points)
    except PointCloudError:
        raise
    except (ValueError, OSError, EOFError, KeyError, IndexError, TypeError) as exc:
        raise PointCloudError(f"{path.name}: cannot be read ({exc})", "corrupt") from None
    except Exception as exc:  # laspy / lazrs raise their own errors on broken data
        raise PointCloudError(f"{path.name}: cannot be read ({exc})", "corrupt") from None
    return _checked(cloud, path.name)


def _check_count(count: int, max_points: int, name: str) -> None:
    if count <= 0:
        raise PointCloudError(f"{name}: the file holds no points", "no_points")
    if count > max_points:
        raise PointCloudError(
            f"{name}: {count} points, more than the {max_points} this server takes",
            "too_many_points",
        )


def _checked(cloud: PointCloud, name: str) -> PointCloud:
    xyz = np.asarray(cloud.xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise PointCloudError(f"{name}: coordinates are not (N, 3)", "corrupt")
    if len(xyz) == 0:
        raise PointCloudError(f"{name}: the file holds no points", "no_points")
    if not np.isfinite(xyz).all():
        bad = int((~np.isfinite(xyz).all(axis=1)).sum())
        raise PointCloudError(
            f"{name}: {bad} points have NaN or infinite coordinates", "non_finite"
        )
    for key, values in cloud.attributes.items():
        if len(values) != len(xyz):
            raise PointCloudError(f"{name}: attribute {key} has the wrong length", "corrupt")
    return PointCloud(xyz, cloud.attributes)


def _rgb8(columns: list[np.ndarray]) -> np.ndarray:
    """Colour channels -> ``(N, 3) uint8``: 16-bit LAS colours are scaled down."""
    rgb = np.stack([np.asarray(c) for c in columns], axis=1)
    if rgb.dtype.kind == "f":
        top = float(np.nanmax(rgb)) if rgb.size else 0.0
        rgb = rgb * 255.0 if top <= 1.0 else rgb
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if rgb.size and int(rgb.max()) > 255:
        return (rgb.astype(np.uint32) >> 8).astype(np.uint8)
    return rgb.astype(np.uint8)


# --- LAS / LAZ ---------------------------------------------------------------------------


def _read_las(path: Path, max_points: int) -> PointCloud:
    import laspy

    with laspy.open(path) as reader:
        _check_count(int(reader.header.point_count), max_points, path.name)
        data = reader.read()
    xyz = np.column_stack([np.asarray(data.x), np.asarray(data.y), np.asarray(data.z)])
    names = set(data.point_format.dimension_names)
    attributes: dict[str, np.ndarray] = {}
    if {"red", "green", "blue"} <= names:
        attributes["rgb"] = _rgb8([data.red, data.green, data.blue])
    for name in ("intensity", "return_number", "classification"):
        if name in names:
            attributes[name] = np.asarray(data[name]).astype(np.int32)
    return PointCloud(xyz, attributes)


# --- PLY ---------------------------------------------------------------------------------


def _read_ply(path: Path, max_points: int) -> PointCloud:
    from plyfile import PlyData

    _check_count(_ply_vertex_count(path), max_points, path.name)
    ply = PlyData.read(str(path))
    points = ply["vertex"].data
    names = set(points.dtype.names or ())
    if not {"x", "y", "z"} <= names:
        raise PointCloudError(f"{path.name}: vertices without x, y, z", "corrupt")
    xyz = np.column_stack([points["x"], points["y"], points["z"]]).astype(np.float64)
    attributes: dict[str, np.ndarray] = {}
    for colour in (("red", "green", "blue"), ("r", "g", "b")):
        if set(colour) <= names:
            attributes["rgb"] = _rgb8([points[c] for c in colour])
            break
    for name in ("intensity", "label", "classification"):
        if name in names:
            key = "classification" if name == "label" else name
            attributes[key] = np.asarray(points[name]).astype(np.int32)
    return PointCloud(xyz, attributes)


def _ply_vertex_count(path: Path) -> int:
    """The vertex count the header declares, read before plyfile reads any data."""
    with open(path, "rb") as stream:
        if stream.readline().strip() != b"ply":
            raise PointCloudError(f"{path.name}: not a PLY file", "corrupt")
        for _ in range(512):
            line = stream.readline()
            if not line or line.strip() == b"end_header":
                break
            words = line.split()
            if len(words) == 3 and words[:2] == [b"element", b"vertex"] and words[2].isdigit():
                return int(words[2])
    raise PointCloudError(f"{path.name}: a PLY file without vertices", "no_points")


# --- PCD ---------------------------------------------------------------------------------

_PCD_TYPES = {
    ("F", 4): "f4",
    ("F", 8): "f8",
    ("I", 1): "i1",
    ("I", 2): "i2",
    ("I", 4): "i4",
    ("I", 8): "i8",
    ("U", 1): "u1",
    ("U", 2): "u2",
    ("U", 4): "u4",
    ("U", 8): "u8",
}


def _read_pcd(path: Path, max_points: int) -> PointCloud:
    with open(path, "rb") as stream:
        header = _pcd_header(stream, path.name)
        fields = header["FIELDS"]
        sizes = [int(v) for v in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(v) for v in header.get("COUNT", ["1"] * len(fields))]
        points = int(header["POINTS"][0])
        _check_count(points, max_points, path.name)
        dtype = np.dtype(
            [
                (f"{name}_{i}" if count > 1 else name, "<" + _PCD_TYPES[(kind, size)])
                for name, kind, size, count in zip(fields, types, sizes, counts, strict=True)
                for i in range(count)
            ]
        )
        mode = header["DATA"][0].lower()
        if mode == "ascii":
            rows = np.loadtxt(stream, dtype=np.float64, ndmin=2, max_rows=points)
            if rows.shape != (points, len(dtype.names or ())):
                raise PointCloudError(f"{path.name}: {len(rows)} rows of {points}", "corrupt")
            table = np.empty(points, dtype)
            for i, name in enumerate(dtype.names or ()):
                table[name] = rows[:, i]
        elif mode == "binary":
            raw = stream.read(points * dtype.itemsize)
            if len(raw) < points * dtype.itemsize:
                raise PointCloudError(f"{path.name}: the file is truncated", "corrupt")
            table = np.frombuffer(raw, dtype=dtype)
        else:
            raise PointCloudError(
                f"{path.name}: PCD data '{mode}' is not read (ascii or binary)", "unknown_format"
            )
    names = set(dtype.names or ())
    if not {"x", "y", "z"} <= names:
        raise PointCloudError(f"{path.name}: points without x, y, z", "corrupt")
    xyz = np.column_stack([table["x"], table["y"], table["z"]]).astype(np.float64)
    attributes: dict[str, np.ndarray] = {}
    if "rgb" in names:  # PCL packs 0x00RRGGBB into a float's bits
        packed = np.ascontiguousarray(table["rgb"]).view(np.uint32)
        attributes["rgb"] = np.stack(
            [(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1
        ).astype(np.uint8)
    for name in ("intensity", "label"):
        if name in names:
            key = "classification" if name == "label" else name
            attributes[key] = np.asarray(table[name]).astype(np.int32)
    return PointCloud(xyz, attributes)


def _pcd_header(stream: IO[bytes], name: str) -> dict[str, list[str]]:
    header: dict[str, list[str]] = {}
    for _ in range(64):
        line = stream.readline()
        if not line:
            break
        text = line.decode("ascii", errors="replace").strip()
        if not text or text.startswith("#"):
            continue
        key, *values = text.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            break
    needed = {"FIELDS", "SIZE", "TYPE", "POINTS", "DATA"}
    if not needed <= set(header):
        raise PointCloudError(f"{name}: not a PCD header", "corrupt")
    if not re.fullmatch(r"\d+", header["POINTS"][0] if header["POINTS"] else ""):
        raise PointCloudError(f"{name}: POINTS is not a count", "corrupt")
    return header


# --- NumPy and text ----------------------------------------------------------------------


def _from_table(table: Any, name: str) -> PointCloud:
    """A structured array with x, y, z (and optional fields) or an ``(N, >=3)`` array."""
    array = np.asarray(table)
    if array.dtype.names:
        fields = set(array.dtype.names)
        if not {"x", "y", "z"} <= fields:
            raise PointCloudError(f"{name}: a structured array without x, y, z", "corrupt")
        xyz = np.column_stack([array["x"], array["y"], array["z"]])
        attributes: dict[str, np.ndarray] = {}
        if {"r", "g", "b"} <= fields:
            attributes["rgb"] = _rgb8([array["r"], array["g"], array["b"]])
        for key in ("intensity", "classification", "label"):
            if key in fields:
                attributes["classification" if key == "label" else key] = np.asarray(
                    array[key]
                ).astype(np.int32)
        return PointCloud(xyz, attributes)
    if array.ndim != 2 or array.shape[1] < 3 or array.dtype.kind not in "fiu":
        raise PointCloudError(f"{name}: an array of {array.shape}, not (N, >=3)", "corrupt")
    attributes = {}
    if array.shape[1] >= 6:  # x y z r g b
        attributes["rgb"] = _rgb8([array[:, 3], array[:, 4], array[:, 5]])
    return PointCloud(array[:, :3], attributes)


def _read_npy(path: Path, max_points: int) -> PointCloud:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    _check_count(int(array.shape[0]) if array.ndim else 0, max_points, path.name)
    return _from_table(np.array(array), path.name)


def _read_npz(path: Path, max_points: int) -> PointCloud:
    with np.load(path, allow_pickle=False) as archive:
        if "points" in archive:
            points = archive["points"]
            _check_count(len(points), max_points, path.name)
            return _from_table(points, path.name)
        if not {"x", "y", "z"} <= set(archive.files):
            raise PointCloudError(f"{path.name}: arrays x, y, z (or points) expected", "corrupt")
        _check_count(int(archive["x"].shape[0]), max_points, path.name)
        xyz = np.column_stack([archive["x"], archive["y"], archive["z"]])
        attributes: dict[str, np.ndarray] = {}
        if "rgb" in archive.files:
            attributes["rgb"] = _rgb8(list(np.asarray(archive["rgb"]).T))
        for key in ("intensity", "classification"):
            if key in archive.files:
                attributes[key] = np.asarray(archive[key]).astype(np.int32)
        return PointCloud(xyz, attributes)


def _read_text(path: Path, max_points: int) -> PointCloud:
    """``x y z [r g b]`` per line, separated by spaces or commas; ``#`` comments."""
    with open(path, "rb") as stream:
        lines = sum(1 for _ in stream)
    _check_count(lines, max_points, path.name)
    with open(path, "rb") as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict")
        rows = np.loadtxt(
            (line.replace(",", " ") for line in text), dtype=np.float64, ndmin=2, comments="#"
        )
    return _from_table(rows, path.name)
