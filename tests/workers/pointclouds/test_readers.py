"""Point-cloud readers: every format gives the same points and attributes; bad files
are refused with a code before anything is allocated for them."""

from __future__ import annotations

from pathlib import Path

import laspy
import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from workers.pointclouds.readers import PointCloudError, read_point_cloud

RNG = np.random.default_rng(4)
XYZ = np.round(RNG.random((50, 3)) * 100, 2)
RGB = (RNG.random((50, 3)) * 255).astype(np.uint8)
CLASSES = RNG.integers(1, 7, 50).astype(np.int32)
DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "pointclouds"


def write_las(path: Path, compress: bool = False) -> Path:
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = [0.01, 0.01, 0.01]
    las = laspy.LasData(header)
    las.x, las.y, las.z = XYZ[:, 0], XYZ[:, 1], XYZ[:, 2]
    las.red, las.green, las.blue = (RGB.astype(np.uint16) * 256).T
    las.classification = CLASSES
    las.intensity = np.arange(50)
    las.write(str(path))
    return path


def write_ply(path: Path, text: bool) -> Path:
    table = np.empty(
        50, [("x", "f8"), ("y", "f8"), ("z", "f8"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    )
    table["x"], table["y"], table["z"] = XYZ.T
    table["red"], table["green"], table["blue"] = RGB.T
    PlyData([PlyElement.describe(table, "vertex")], text=text).write(str(path))
    return path


def write_pcd(path: Path, binary: bool) -> Path:
    packed = (RGB[:, 0].astype(np.uint32) << 16) | (RGB[:, 1].astype(np.uint32) << 8) | RGB[:, 2]
    header = (
        "# .PCD v0.7\nVERSION 0.7\nFIELDS x y z rgb\nSIZE 8 8 8 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
        "WIDTH 50\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 50\n"
        f"DATA {'binary' if binary else 'ascii'}\n"
    )
    table = np.empty(50, [("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("rgb", "<u4")])
    table["x"], table["y"], table["z"] = XYZ.T
    table["rgb"] = packed
    with open(path, "wb") as stream:
        stream.write(header.encode())
        if binary:
            stream.write(table.tobytes())
        else:
            as_float = packed.view(np.float32)
            for (x, y, z), colour in zip(XYZ, as_float, strict=True):
                stream.write(f"{x} {y} {z} {float(colour)!r}\n".encode())
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda d: write_las(d / "a.las"),
        lambda d: write_las(d / "a.laz"),
        lambda d: write_ply(d / "a.ply", text=False),
        lambda d: write_ply(d / "t.ply", text=True),
        lambda d: write_pcd(d / "a.pcd", binary=True),
        lambda d: write_pcd(d / "t.pcd", binary=False),
        lambda d: _save_npy(d / "a.npy"),
        lambda d: _save_txt(d / "a.xyz"),
    ],
    ids=["las", "laz", "ply-binary", "ply-ascii", "pcd-binary", "pcd-ascii", "npy", "xyz"],
)
def test_every_format_reads_the_same_points_and_colours(tmp_path: Path, make: object) -> None:
    cloud = read_point_cloud(make(tmp_path), max_points=1000)  # type: ignore[operator]
    assert len(cloud) == 50
    np.testing.assert_allclose(cloud.xyz, XYZ, atol=0.006)
    np.testing.assert_array_equal(cloud.attributes["rgb"], RGB)


def _save_npy(path: Path) -> Path:
    np.save(path, np.column_stack([XYZ, RGB]))
    return path


def _save_txt(path: Path) -> Path:
    np.savetxt(path, np.column_stack([XYZ, RGB]), fmt="%.2f %.2f %.2f %d %d %d")
    return path


def test_las_keeps_its_classification_and_intensity(tmp_path: Path) -> None:
    cloud = read_point_cloud(write_las(tmp_path / "a.las"), max_points=1000)
    np.testing.assert_array_equal(cloud.attributes["classification"], CLASSES)
    np.testing.assert_array_equal(cloud.attributes["intensity"], np.arange(50))


def test_npz_with_named_arrays(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez(path, x=XYZ[:, 0], y=XYZ[:, 1], z=XYZ[:, 2], classification=CLASSES)
    cloud = read_point_cloud(path, max_points=1000)
    np.testing.assert_array_equal(cloud.attributes["classification"], CLASSES)


@pytest.mark.parametrize("suffix", [".las", ".ply", ".pcd"])
def test_a_header_declaring_too_many_points_is_refused_before_reading(
    tmp_path: Path, suffix: str
) -> None:
    path = {
        ".las": write_las,
        ".ply": lambda p: write_ply(p, text=False),
        ".pcd": lambda p: write_pcd(p, True),
    }[suffix](tmp_path / f"a{suffix}")
    with pytest.raises(PointCloudError) as caught:
        read_point_cloud(path, max_points=49)
    assert caught.value.code == "too_many_points"


def test_truncated_and_non_finite_files_are_refused(tmp_path: Path) -> None:
    pcd = write_pcd(tmp_path / "a.pcd", binary=True)
    pcd.write_bytes(pcd.read_bytes()[:-100])
    with pytest.raises(PointCloudError) as caught:
        read_point_cloud(pcd, max_points=1000)
    assert caught.value.code == "corrupt"
    las = write_las(tmp_path / "b.las")
    las.write_bytes(las.read_bytes()[:400])
    with pytest.raises(PointCloudError) as caught:
        read_point_cloud(las, max_points=1000)
    assert caught.value.code in ("corrupt", "no_points")
    bad = tmp_path / "c.xyz"
    bad.write_text("1 2 3\nnan 4 5\n")
    with pytest.raises(PointCloudError) as caught:
        read_point_cloud(bad, max_points=1000)
    assert caught.value.code == "non_finite"
    for name, content in (("d.ply", b"not a ply"), ("e.pcd", b"FIELDS x\n"), ("f.npy", b"xx")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(PointCloudError):
            read_point_cloud(tmp_path / name, max_points=1000)
    with pytest.raises(PointCloudError) as caught:
        read_point_cloud(tmp_path / "g.obj", max_points=1000)
    assert caught.value.code == "unknown_format"


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/pointclouds")
@pytest.mark.parametrize("name", ["simple.las", "autzen_trim.laz", "append-bug.laz"])
def test_the_real_lidar_files_read_with_their_classes(name: str) -> None:
    cloud = read_point_cloud(DATA / name, max_points=20_000_000)
    with laspy.open(DATA / name) as reader:
        assert len(cloud) == reader.header.point_count
    assert "classification" in cloud.attributes and "rgb" in cloud.attributes
