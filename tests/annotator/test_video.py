"""Probing and decoding videos and zips of images (annotator.video): containers, order,
timestamps, rotation, damaged files, limits, hostile zips."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from annotator.video import (
    DecodedFrame,
    DecodeReport,
    VideoError,
    VideoInfo,
    VideoLimits,
    decode_frames,
    natural_key,
    probe,
    upright_rotation,
)
from tests.annotator import sample_images as images
from tests.annotator import sample_videos as videos

LIMITS = VideoLimits(max_frames=1000, max_pixels=4096 * 2160)

needs_vp8 = pytest.mark.skipif(
    not videos.has_encoder("libvpx"), reason="this PyAV wheel has no VP8 encoder"
)
needs_x264 = pytest.mark.skipif(
    not videos.has_encoder("libx264"), reason="this PyAV wheel has no H.264 encoder"
)

CONTAINERS: dict[str, Callable[..., bytes]] = {
    "mp4": videos.mp4,
    "mov": videos.mov,
    "mkv": videos.mkv,
    "avi": videos.avi,
    "webm": videos.webm,
}


def container_params() -> list[object]:
    return [pytest.param(name, marks=needs_vp8) if name == "webm" else name for name in CONTAINERS]


def probed(data: bytes, limits: VideoLimits = LIMITS) -> VideoInfo:
    return probe(io.BytesIO(data), limits)


def decoded(
    data: bytes, limits: VideoLimits = LIMITS, report: DecodeReport | None = None
) -> list[DecodedFrame]:
    return list(decode_frames(io.BytesIO(data), limits, report or DecodeReport()))


def pixels(frame: DecodedFrame) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(frame.data)).convert("RGB"))


def refused(make: Callable[[], object], code: str) -> VideoError:
    with pytest.raises(VideoError) as caught:
        make()
    assert caught.value.code == code, caught.value
    return caught.value


# --- videos -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", container_params())
def test_it_probes_each_container(name: str) -> None:
    info = probed(CONTAINERS[name](frames=12))
    assert (info.width, info.height, info.num_frames) == (64, 48, 12)
    assert info.fps == pytest.approx(25.0)
    assert info.metadata["source"] == "video"
    assert info.metadata["rotation"] == 0


@pytest.mark.parametrize("name", container_params())
def test_it_decodes_each_container_in_order_with_timestamps(name: str) -> None:
    report = DecodeReport()
    frames = decoded(CONTAINERS[name](frames=12), report=report)
    assert [f.index for f in frames] == list(range(12))
    assert [videos.bar_length(pixels(f)) for f in frames] == list(range(12))
    assert [f.timestamp for f in frames] == pytest.approx([i / 25 for i in range(12)])
    assert all((f.width, f.height, f.extension) == (64, 48, ".jpg") for f in frames)
    assert all(f.data.startswith(b"\xff\xd8\xff") for f in frames)
    assert videos.corner_colors(pixels(frames[0])) == videos.QUADRANTS
    assert report.fps == pytest.approx(25.0)
    assert report.stopped is None


@pytest.mark.parametrize(
    ("matrix", "turns"),
    # The display matrix's counter-clockwise degrees, and np.rot90's turns (also
    # counter-clockwise) that show the frame upright. -90: a phone held upright.
    [(-90, -1), (90, 1), (180, 2)],
)
def test_it_applies_the_display_matrix(matrix: int, turns: int) -> None:
    data = videos.rotated_mp4(matrix)
    info = probed(data)
    upright = np.rot90(videos.frame_array(0), k=turns)
    assert (info.height, info.width) == upright.shape[:2]
    assert info.metadata["rotation"] == upright_rotation(matrix)
    report = DecodeReport()
    frames = decoded(data, report=report)
    assert report.rotation == upright_rotation(matrix) != 0
    for frame in frames:
        shown = pixels(frame)
        assert shown.shape == upright.shape
        assert (frame.height, frame.width) == upright.shape[:2]
        assert videos.corner_colors(shown) == videos.corner_colors(upright)


def test_upright_rotation_normalises_degrees() -> None:
    assert [upright_rotation(d) for d in (0, 90, -90, 180, -180, 89.6, -270)] == [
        0,
        90,
        270,
        180,
        180,
        90,
        90,
    ]


def test_a_truncated_video_keeps_the_frames_before_the_cut() -> None:
    data = videos.truncated_mp4(frames=20, keep=0.5)
    assert probed(data).num_frames == 20  # the header is whole
    frames = decoded(data)
    assert 1 <= len(frames) < 20
    assert [videos.bar_length(pixels(f)) for f in frames] == list(range(len(frames)))


def test_it_refuses_a_video_whose_header_is_cut_off() -> None:
    refused(lambda: probed(videos.headless_mp4()), "invalid_video")


@needs_x264
def test_a_video_with_a_header_but_no_decodable_frame_fails_at_decoding() -> None:
    data = videos.corrupt_mp4()
    assert probed(data).num_frames == 10  # the header alone looks fine
    refused(lambda: decoded(data), "corrupt_video")


@pytest.mark.parametrize(
    "data",
    [
        b"just some text\n" * 50,
        images.png(),  # a still image is not a video
        bytes(4096),
    ],
    ids=["text", "png", "zeros"],
)
def test_it_refuses_what_is_not_a_video(data: bytes) -> None:
    refused(lambda: probed(data), "invalid_video")


def test_it_refuses_a_file_without_a_video_stream() -> None:
    buffer = io.BytesIO()
    import av

    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    refused(lambda: probed(buffer.getvalue()), "no_video_stream")


def test_it_refuses_more_frames_than_the_limit() -> None:
    data = videos.mp4(frames=12)
    refused(lambda: probed(data, VideoLimits(max_frames=11, max_pixels=10**6)), "too_many_frames")
    assert probed(data, VideoLimits(max_frames=12, max_pixels=10**6)).num_frames == 12
    # A header that understates: the decoder stops at the limit all the same.
    refused(lambda: decoded(data, VideoLimits(max_frames=5, max_pixels=10**6)), "too_many_frames")


def test_it_refuses_frames_over_the_pixel_limit() -> None:
    data = videos.mp4(frames=2)
    refused(
        lambda: probed(data, VideoLimits(max_frames=10, max_pixels=64 * 48 - 1)), "video_too_large"
    )


def test_decoding_is_lazy() -> None:
    """One frame at a time: the first frame comes before the rest are decoded."""
    frames = decode_frames(io.BytesIO(videos.mp4(frames=50)), LIMITS, DecodeReport())
    first = next(frames)
    assert first.index == 0
    assert sum(1 for _ in frames) == 49


# --- zips of images -------------------------------------------------------------------------


def test_it_orders_a_sequence_by_natural_file_name() -> None:
    data = videos.frames_zip(12, pattern="seq/frame{index}.png")  # frame2 before frame10
    info = probed(data)
    assert (info.width, info.height, info.num_frames, info.fps) == (64, 48, 12, None)
    frames = decoded(data)
    assert [videos.bar_length(pixels(f)) for f in frames] == list(range(12))
    assert all(f.timestamp is None for f in frames)


def test_natural_key() -> None:
    names = ["b/10.png", "a/2.png", "a/10.png", "A/3.png", "frame1.png", "frame01b.png"]
    assert sorted(names, key=natural_key) == [
        "a/2.png",
        "A/3.png",
        "a/10.png",
        "b/10.png",
        "frame1.png",
        "frame01b.png",
    ]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_it_keeps_png_and_jpeg_frames_as_uploaded(fmt: str) -> None:
    data = videos.frames_zip(3, fmt=fmt)
    frames = decoded(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        originals = [archive.read(n) for n in sorted(archive.namelist())]
    assert [f.data for f in frames] == originals
    assert {f.extension for f in frames} == {".png" if fmt == "PNG" else ".jpg"}


def test_it_renders_frames_a_browser_cannot_show_as_is() -> None:
    members = [
        ("0.png", images.png16(64, 48)),  # 16-bit: stretched to 8 bits
        ("1.tif", images.tiff8(64, 48)),
        ("2.jpg", images.jpeg_with_orientation(6, width=48, height=64)),  # EXIF: turned
    ]
    frames = decoded(videos.zip_of(members))
    assert [(f.extension, f.width, f.height) for f in frames] == [(".jpg", 64, 48)] * 3
    turned = pixels(frames[2])
    expected = np.rot90(images.quadrants(48, 64), k=-1)
    assert images.corner_colors(turned) == images.corner_colors(expected)


def test_it_skips_folders_and_files_the_os_adds() -> None:
    png = videos.image_bytes(videos.frame_array(0))
    data = videos.zip_of(
        [
            ("seq/", b""),
            ("seq/00000.png", png),
            ("__MACOSX/seq/._00000.png", b"\x00\x05\x16\x07"),
            ("seq/.DS_Store", b"junk"),
            ("seq/Thumbs.db", b"junk"),
        ]
    )
    assert probed(data).num_frames == 1
    assert len(decoded(data)) == 1


@pytest.mark.parametrize(
    ("members", "code"),
    [
        ([("../evil.png", b"")], "unsafe_zip_member"),
        ([("seq/../../evil.png", b"")], "unsafe_zip_member"),
        ([("/etc/evil.png", b"")], "unsafe_zip_member"),
        ([("C:\\evil.png", b"")], "unsafe_zip_member"),
        ([("0.png", None), ("notes.txt", b"hello")], "zip_member_not_image"),
        ([("0.png", b"this is not a png")], "zip_member_not_image"),
        ([("0.png", None), ("1.png", "small")], "mixed_frame_sizes"),
        ([(".hidden.png", None), ("seq/", b"")], "no_frames"),
    ],
    ids=[
        "parent",
        "nested-parent",
        "absolute",
        "drive",
        "text",
        "fake-png",
        "mixed-sizes",
        "no-images",
    ],
)
def test_it_refuses_hostile_or_broken_zips(
    members: list[tuple[str, bytes | str | None]], code: str
) -> None:
    def content(data: bytes | str | None) -> bytes:
        if data is None:
            return videos.image_bytes(videos.frame_array(0))
        if data == "small":
            return videos.image_bytes(videos.frame_array(0, 32, 32))
        assert isinstance(data, bytes)
        return data

    zipped = videos.zip_of((name, content(data)) for name, data in members)
    refused(lambda: probed(zipped), code)


def test_it_refuses_symbolic_links() -> None:
    refused(lambda: probed(videos.zip_with_symlink()), "unsafe_zip_member")


def test_it_refuses_a_zip_that_cannot_be_read() -> None:
    data = videos.frames_zip(3)
    refused(lambda: probed(data[: len(data) // 2]), "invalid_zip")


def test_it_refuses_zips_over_the_limits() -> None:
    data = videos.frames_zip(4)
    refused(lambda: probed(data, VideoLimits(3, 10**6)), "too_many_frames")
    refused(lambda: probed(data, VideoLimits(10, 10**6, zip_max_members=3)), "zip_too_many_members")
    refused(lambda: probed(data, VideoLimits(10, 64 * 48 - 1)), "video_too_large")
    # A bomb: 50 MB of zeros in a few KB, found from the central directory alone.
    bomb = videos.zip_of([("0.png", bytes(50 << 20))])
    assert len(bomb) < 100_000
    refused(lambda: probed(bomb, VideoLimits(10, 10**6, zip_max_bytes=10 << 20)), "zip_too_large")
    refused(lambda: probed(bomb, VideoLimits(10, 1000)), "zip_too_large")  # per member


@pytest.mark.parametrize("make", [images.png, images.jpeg], ids=["png", "jpeg"])
def test_a_frame_damaged_past_its_header_fails_at_decoding(make: Callable[..., bytes]) -> None:
    whole = make(320, 240, seed=1)
    damaged = make(320, 240, seed=2)[:-2000]  # noise: the pixel data is most of it
    ext = ".png" if make is images.png else ".jpg"
    data = videos.zip_of([("0" + ext, whole), ("1" + ext, damaged)])
    assert probed(data).num_frames == 2  # headers only
    refused(lambda: decoded(data), "corrupt_frame")
