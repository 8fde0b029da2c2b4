"""Small videos and zips of images, generated in memory with PyAV and Pillow. Shared by
the decoder, upload and worker tests.

Every frame shows four coloured quadrants (top left red, top right green, bottom left
blue, bottom right white) so orientation can be checked after decoding, and a grey bar
whose length encodes the frame's index so order can be checked too."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Iterable

import av
import numpy as np
from PIL import Image

QUADRANTS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]  # TL, TR, BL, BR


def has_encoder(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        return False
    return True


def frame_array(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """``(height, width, 3)`` uint8: the quadrants, and a grey bar across the middle row
    band whose length is ``index`` 4-pixel steps (so frames differ and can be told apart)."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    half_h, half_w = height // 2, width // 2
    array[:half_h, :half_w] = QUADRANTS[0]
    array[:half_h, half_w:] = QUADRANTS[1]
    array[half_h:, :half_w] = QUADRANTS[2]
    array[half_h:, half_w:] = QUADRANTS[3]
    band = slice(half_h - 4, half_h + 4)
    array[band, :] = 0
    array[band, : min(width, 4 * index)] = 128
    return array


def bar_length(array: np.ndarray) -> int:
    """The index a decoded frame shows (inverse of the bar in :func:`frame_array`)."""
    half_h = array.shape[0] // 2
    row = array[half_h, :, :].astype(int).mean(axis=1)
    return int(round(float((row > 64).sum()) / 4))


def corner_colors(array: np.ndarray, margin: int = 4) -> list[tuple[int, int, int]]:
    """The colours near the four corners (TL, TR, BL, BR), each channel rounded to 0/255."""
    h, w = array.shape[:2]
    points = [(margin, margin), (margin, w - 1 - margin), (h - 1 - margin, margin)]
    points.append((h - 1 - margin, w - 1 - margin))
    return [tuple(255 if int(c) > 127 else 0 for c in array[y, x]) for y, x in points]  # type: ignore[misc]


def encode_video(
    fmt: str = "mp4",
    codec: str = "mpeg4",
    frames: int = 10,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    rotation: int | None = None,
    faststart: bool = False,
) -> bytes:
    """A video of ``frames`` frames of :func:`frame_array`. ``rotation``: the display
    matrix's counter-clockwise degrees (what a phone held upright writes as -90)."""
    if faststart:  # the muxer rewrites the file to move the header first: a real file
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "video." + fmt)
            _write_video(path, fmt, codec, frames, width, height, fps, rotation, faststart)
            with open(path, "rb") as file:
                return file.read()
    buffer = io.BytesIO()
    _write_video(buffer, fmt, codec, frames, width, height, fps, rotation, faststart)
    return buffer.getvalue()


def _write_video(
    target: str | io.BytesIO,
    fmt: str,
    codec: str,
    frames: int,
    width: int,
    height: int,
    fps: int,
    rotation: int | None,
    faststart: bool,
) -> None:
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(target, "w", format=fmt, options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "mpeg4":
            stream.bit_rate = 2_000_000  # sharp enough that colours and the bar survive
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_array(index, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def mp4(frames: int = 10, **kwargs: object) -> bytes:
    return encode_video("mp4", "mpeg4", frames, **kwargs)  # type: ignore[arg-type]


def mov(frames: int = 10) -> bytes:
    return encode_video("mov", "mpeg4", frames)


def mkv(frames: int = 10) -> bytes:
    return encode_video("matroska", "mpeg4", frames)


def avi(frames: int = 10) -> bytes:
    return encode_video("avi", "mpeg4", frames)


def webm(frames: int = 10) -> bytes:
    return encode_video("webm", "libvpx", frames)


def rotated_mp4(rotation: int = -90, frames: int = 6) -> bytes:
    return encode_video("mp4", "mpeg4", frames, rotation=rotation)


def _mdat_payload(data: bytes) -> tuple[int, int]:
    """Start and end of the ``mdat`` box's payload of an MP4."""
    start = data.index(b"mdat") + 4
    size = int.from_bytes(data[start - 8 : start - 4], "big")
    return start, start - 8 + size


def truncated_mp4(frames: int = 20, keep: float = 0.5) -> bytes:
    """A faststart MP4 (header first) cut off ``keep`` of the way into its frame data:
    the header is whole, the later frames are missing."""
    data = encode_video("mp4", "mpeg4", frames, faststart=True)
    start, end = _mdat_payload(data)
    return data[: start + int((end - start) * keep)]


def headless_mp4(frames: int = 20) -> bytes:
    """A plain MP4 (header last) cut in half: its header is gone."""
    data = encode_video("mp4", "mpeg4", frames)
    return data[: len(data) // 2]


def garbage_mp4(frames: int = 10) -> bytes:
    """A faststart MP4 whose header is whole but whose frame data is all cut off: the
    header promises frames that are not there."""
    data = encode_video("mp4", "mpeg4", frames, faststart=True)
    start, _ = _mdat_payload(data)
    return data[:start]


def corrupt_mp4(frames: int = 10) -> bytes:
    """An H.264 MP4 whose header is whole (frame size and count in it) but whose frame
    data is noise: it passes the upload probe, and not one frame decodes."""
    data = encode_video("mp4", "libx264", frames, faststart=True)
    start, end = _mdat_payload(data)
    noise = np.random.default_rng(0).integers(0, 256, end - start, dtype=np.uint8)
    return data[:start] + noise.tobytes() + data[end:]


def image_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def zip_of(members: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def frames_zip(
    frames: int = 5, fmt: str = "PNG", width: int = 64, height: int = 48, pattern: str = ""
) -> bytes:
    """A zip of ``frames`` images named ``{index:05d}.png`` (or by ``pattern``, e.g.
    ``"f{index}.jpg"``), written in reverse order so the reader has to sort them."""
    ext = "png" if fmt == "PNG" else "jpg"
    pattern = pattern or "{index:05d}." + ext
    members = [
        (pattern.format(index=i), image_bytes(frame_array(i, width, height), fmt))
        for i in range(frames)
    ]
    return zip_of(reversed(members))


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("00000.png", image_bytes(frame_array(0)))
        link = zipfile.ZipInfo("00001.png")
        link.external_attr = (0o120777 << 16) | 0
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()
