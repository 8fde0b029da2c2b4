"""Reading uploaded videos and image sequences (zips of images).

Pure PyAV/Pillow: no ORM, no storage. Two steps, as for images:

- :func:`probe` at upload reads only what is cheap: a video's container header and stream
  info (PyAV ``open``), a zip's central directory and each image's header. It refuses what
  that shows to be wrong with :class:`VideoError` (``invalid_video``, ``no_video_stream``,
  ``no_frames``, ``too_many_frames``, ``video_too_large``, ``invalid_zip``,
  ``unsafe_zip_member``, ``zip_member_not_image``, ``mixed_frame_sizes``,
  ``zip_too_many_members``, ``zip_too_large``, ``zip_encrypted``).
- :func:`decode_frames` in the ingest job yields the frames one at a time, upright (the
  display matrix applied) and encoded for display (JPEG; an image sequence's JPEG and
  PNG frames as they are), so memory stays flat in the length of the video. A video
  whose decoding stops early keeps the frames before the damage; one with no frame at
  all raises ``corrupt_video`` (or ``no_frames``).
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import av
import av.container
from PIL import Image, ImageOps, UnidentifiedImageError

from annotator.media import MediaError, render_rgb

#: JPEG quality of stored video frames: visually lossless at about 60 KB for 854x480.
JPEG_QUALITY = 90
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
#: Files an operating system adds to zipped folders; skipped like dot files.
_OS_FILES = {"thumbs.db", "desktop.ini"}
#: Sequence frames stored exactly as uploaded (8-bit, upright, shown by every browser).
_AS_UPLOADED = {"JPEG": ".jpg", "PNG": ".png"}
_EXIF_ORIENTATION = 0x0112
#: Counter-clockwise rotation of the display matrix -> the transpose that shows the
#: frame upright (PIL's ROTATE_n turns counter-clockwise too).
_UPRIGHT = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}
#: A video whose first this many packets give no frame has no frame the probe can see.
_PROBE_PACKETS = 64
#: Decoding stops after this many packets in a row that the decoder refuses.
_MAX_BAD_PACKETS = 32


class VideoError(MediaError):
    def __init__(self, message: str, code: str = "invalid_video") -> None:
        super().__init__(message, code)


@dataclass(frozen=True)
class VideoLimits:
    """``max_pixels`` per frame; a zip: ``zip_max_members`` entries of any kind and
    ``zip_max_bytes`` uncompressed in all."""

    max_frames: int
    max_pixels: int
    zip_max_members: int = 25_000
    zip_max_bytes: int = 8 << 30

    @property
    def member_max_bytes(self) -> int:
        # The largest allowed frame as an uncompressed 16-bit RGBA image, plus headers.
        return self.max_pixels * 8 + (1 << 20)


@dataclass(frozen=True)
class VideoInfo:
    """What the header says. ``width``/``height`` upright (rotation applied where the
    probe could read it); ``num_frames`` exact for zips and most MP4/MOV files, else
    estimated from the duration (0 when unknown)."""

    width: int
    height: int
    num_frames: int
    fps: float | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class DecodedFrame:
    """One frame, encoded for display: ``data`` in the format of ``extension``;
    ``timestamp`` in seconds from the first frame (None for image sequences)."""

    index: int
    timestamp: float | None
    data: bytes
    extension: str
    width: int
    height: int


@dataclass
class DecodeReport:
    """Filled in while :func:`decode_frames` runs: ``fps``, ``rotation`` (degrees
    counter-clockwise that were applied), ``metadata`` to keep on the asset, and
    ``stopped``: why decoding ended before the end of the file (a truncated or damaged
    video), or None."""

    fps: float | None = None
    rotation: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None


Source = str | IO[bytes]


def is_image_sequence(source: Source) -> bool:
    """Whether ``source`` (a path or a seekable binary stream) is a zip."""
    if isinstance(source, str):
        with open(source, "rb") as file:
            return file.read(4) in ZIP_MAGIC
    position = source.tell()
    head = source.read(4)
    source.seek(position)
    return head in ZIP_MAGIC


def probe(stream: IO[bytes], limits: VideoLimits) -> VideoInfo:
    """Check an upload's header against ``limits``; raises :class:`VideoError`."""
    stream.seek(0)
    if is_image_sequence(stream):
        return probe_image_sequence(stream, limits)
    return probe_video(stream, limits)


def decode_frames(
    source: Source, limits: VideoLimits, report: DecodeReport, quality: int = JPEG_QUALITY
) -> Iterator[DecodedFrame]:
    """Every frame of a video or zip of images, in order, one at a time."""
    if is_image_sequence(source):
        return decode_image_sequence(source, limits, report, quality)
    return decode_video(source, limits, report, quality)


# --- videos (PyAV) ----------------------------------------------------------------------


def _open_video(source: Source, code: str) -> av.container.InputContainer:
    if not isinstance(source, str):
        source.seek(0)
    try:
        return av.open(source, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise VideoError(f"the file is not a video this server can read ({exc})", code) from None


def _fps(stream: av.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0 and math.isfinite(float(rate)):
            return float(rate)
    return None


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _frame_estimate(stream: av.VideoStream, duration: float | None, fps: float | None) -> int:
    if stream.frames > 0:
        return int(stream.frames)
    if duration is not None and fps is not None:
        return max(0, round(duration * fps))
    return 0


def upright_rotation(degrees: float) -> int:
    """A display matrix's rotation (counter-clockwise, -180..180) as 0, 90, 180 or 270."""
    return int(round(degrees / 90.0)) % 4 * 90


def _first_frame_rotation(container: av.container.InputContainer) -> int | None:
    """The rotation of the first frame: PyAV exposes the display matrix on frames only.
    None when the first packets give no frame (the ingest job then finds out)."""
    try:
        for count, packet in enumerate(container.demux(video=0)):
            for frame in packet.decode():
                return upright_rotation(frame.rotation)
            if count >= _PROBE_PACKETS:
                break
    except (av.FFmpegError, ValueError):
        pass
    return None


def probe_video(stream: IO[bytes], limits: VideoLimits) -> VideoInfo:
    with _open_video(stream, "invalid_video") as container:
        fmt = container.format.name
        if fmt == "image2" or fmt.endswith("_pipe"):
            raise VideoError("the file is a still image, not a video", "invalid_video")
        if not container.streams.video:
            raise VideoError("the file has no video stream", "no_video_stream")
        video = container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        if not width or not height:
            raise VideoError("the video stream gives no frame size", "invalid_video")
        if width * height > limits.max_pixels:
            raise VideoError(
                f"frames are {width}x{height} = {width * height} pixels, "
                f"the limit is {limits.max_pixels}",
                "video_too_large",
            )
        fps, duration = _fps(video), _duration(container, video)
        frames = _frame_estimate(video, duration, fps)
        if frames == 0 and duration is not None and duration <= 0:
            raise VideoError("the video has no frames", "no_frames")
        if frames > limits.max_frames:
            raise VideoError(
                f"the video has {frames} frames, the limit is {limits.max_frames}",
                "too_many_frames",
            )
        metadata: dict[str, Any] = {
            "source": "video",
            "container": fmt,
            "codec": video.codec_context.name,
            "duration": duration,
        }
        rotation = _first_frame_rotation(container)
    if rotation is not None:
        metadata["rotation"] = rotation
        if rotation in (90, 270):
            width, height = height, width
    return VideoInfo(width, height, frames, fps, metadata)


def _frame_image(frame: av.VideoFrame, size: tuple[int, int], rotation: int) -> Image.Image:
    if (frame.width, frame.height) != size:
        # A stream that changes size midway: every stored frame keeps the first's.
        image = frame.to_image(width=size[0], height=size[1])
    else:
        image = frame.to_image()
    return image.transpose(_UPRIGHT[rotation]) if rotation else image


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def decode_video(
    source: Source, limits: VideoLimits, report: DecodeReport, quality: int = JPEG_QUALITY
) -> Iterator[DecodedFrame]:
    """Streams the first video stream's frames. Raises :class:`VideoError`
    (``too_many_frames`` past ``limits.max_frames``; ``corrupt_video`` or ``no_frames``
    when not one frame decodes)."""
    with _open_video(source, "corrupt_video") as container:
        if not container.streams.video:
            raise VideoError("the file has no video stream", "no_video_stream")
        video = container.streams.video[0]
        video.thread_type = "AUTO"  # frame threads: a constant few frames in flight
        report.fps = _fps(video)
        duration = _duration(container, video)
        promised = _frame_estimate(video, duration, report.fps)
        report.metadata = {
            "source": "video",
            "container": container.format.name,
            "codec": video.codec_context.name,
            "duration": duration,
        }
        index, bad_packets = 0, 0
        size: tuple[int, int] | None = None
        first_time: float | None = None
        try:
            for packet in container.demux(video):
                try:
                    frames = packet.decode()
                except (av.FFmpegError, ValueError) as exc:
                    bad_packets += 1
                    report.stopped = f"a damaged packet after frame {index} ({exc})"
                    if bad_packets > _MAX_BAD_PACKETS:
                        break
                    continue
                bad_packets = 0
                for frame in frames:
                    if index >= limits.max_frames:
                        raise VideoError(
                            f"the video has more than {limits.max_frames} frames",
                            "too_many_frames",
                        )
                    if size is None:
                        size = (frame.width, frame.height)
                        report.rotation = upright_rotation(frame.rotation)
                        report.metadata["rotation"] = report.rotation
                    image = _frame_image(frame, size, report.rotation)
                    time = frame.time
                    if time is not None and first_time is None:
                        first_time = time
                    if time is not None and first_time is not None:
                        timestamp: float | None = round(time - first_time, 6)
                    else:
                        timestamp = round(index / report.fps, 6) if report.fps else None
                    yield DecodedFrame(index, timestamp, _jpeg(image, quality), ".jpg", *image.size)
                    index += 1
        except VideoError:
            raise
        except (av.FFmpegError, ValueError) as exc:
            report.stopped = f"the file ends or breaks after frame {index} ({exc})"
        if index == 0 and (report.stopped or promised):
            why = report.stopped or f"its header promises {promised} frames"
            raise VideoError(f"no frame of the video decodes: {why}", "corrupt_video")
        if index == 0:
            raise VideoError("the video has no frames", "no_frames")


# --- image sequences (zips) -------------------------------------------------------------


def natural_key(name: str) -> list[Any]:
    """Sort key for file names with numbers: ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name)]


def _unsafe(name: str) -> bool:
    return (
        name.startswith("/")
        or re.match(r"^[A-Za-z]:", name) is not None
        or ".." in name.split("/")
        or "\x00" in name
    )


def _skipped(info: zipfile.ZipInfo, name: str) -> bool:
    parts = [part for part in name.split("/") if part]
    return (
        info.is_dir()
        or not parts
        or parts[0] == "__MACOSX"
        or any(part.startswith(".") for part in parts)
        or parts[-1].lower() in _OS_FILES
    )


def sequence_members(archive: zipfile.ZipFile, limits: VideoLimits) -> list[zipfile.ZipInfo]:
    """The image members of a zip in natural file-name order, from its central directory
    alone. Refuses names that leave the archive (``../``, absolute paths), symbolic links,
    encrypted or non-image members, and archives over the limits."""
    infos = archive.infolist()
    if len(infos) > limits.zip_max_members:
        raise VideoError(
            f"the zip has {len(infos)} entries, the limit is {limits.zip_max_members}",
            "zip_too_many_members",
        )
    members, total = [], 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if _unsafe(name):
            raise VideoError(
                f"the zip entry {name!r} points outside the archive", "unsafe_zip_member"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise VideoError(f"the zip entry {name!r} is a symbolic link", "unsafe_zip_member")
        if _skipped(info, name):
            continue
        if info.flag_bits & 0x1:
            raise VideoError(f"the zip entry {name!r} is encrypted", "zip_encrypted")
        if posixpath.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
            raise VideoError(
                f"the zip entry {name!r} is not an image ({', '.join(sorted(IMAGE_EXTENSIONS))})",
                "zip_member_not_image",
            )
        if info.file_size > limits.member_max_bytes:
            raise VideoError(f"the zip entry {name!r} is too large", "zip_too_large")
        total += info.file_size
        members.append(info)
    if total > limits.zip_max_bytes:
        raise VideoError(
            f"the zip holds {total} bytes uncompressed, the limit is {limits.zip_max_bytes}",
            "zip_too_large",
        )
    if not members:
        raise VideoError("the zip has no images", "no_frames")
    if len(members) > limits.max_frames:
        raise VideoError(
            f"the zip has {len(members)} images, the limit is {limits.max_frames}",
            "too_many_frames",
        )
    return sorted(members, key=lambda info: natural_key(info.filename))


def _open_zip(source: Source) -> zipfile.ZipFile:
    if not isinstance(source, str):
        source.seek(0)
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise VideoError(f"the zip cannot be read ({exc})", "invalid_zip") from None


def _orientation(image: Image.Image) -> int:
    return int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)


def _upright_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    if image.format == "PNG":  # its EXIF may follow the pixels: reading it decodes them
        return width, height
    return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


def _check_pixels(name: str, size: tuple[int, int], limits: VideoLimits) -> None:
    if size[0] * size[1] > limits.max_pixels:
        raise VideoError(
            f"{name} is {size[0]}x{size[1]} pixels, the limit is {limits.max_pixels}",
            "video_too_large",
        )


def _check_size(name: str, size: tuple[int, int], first: tuple[int, int] | None) -> None:
    if first is not None and size != first:
        raise VideoError(
            f"{name} is {size[0]}x{size[1]}, the first frame {first[0]}x{first[1]}: "
            "every frame of a sequence must have the same size",
            "mixed_frame_sizes",
        )


def probe_image_sequence(stream: IO[bytes], limits: VideoLimits) -> VideoInfo:
    """The central directory and every image's header (not its pixels)."""
    with _open_zip(stream) as archive:
        members = sequence_members(archive, limits)
        first: tuple[int, int] | None = None
        formats: set[str] = set()
        for info in members:
            try:
                with archive.open(info) as member, Image.open(member) as image:
                    size, fmt = _upright_size(image), str(image.format)
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError, zlib.error) as exc:
                raise VideoError(
                    f"the zip entry {info.filename!r} is not an image this server can read ({exc})",
                    "zip_member_not_image",
                ) from None
            _check_pixels(info.filename, size, limits)
            _check_size(info.filename, size, first)
            first = first or size
            formats.add(fmt)
    assert first is not None  # sequence_members refuses a zip without images
    metadata = {"source": "image_sequence", "container": "zip", "formats": sorted(formats)}
    return VideoInfo(first[0], first[1], len(members), None, metadata)


def _sequence_frame(
    index: int, name: str, data: bytes, limits: VideoLimits, quality: int
) -> DecodedFrame:
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise VideoError(f"{name} cannot be decoded ({exc})", "corrupt_frame") from None
    fmt, size = str(image.format), image.size
    _check_pixels(name, size, limits)
    try:
        if fmt == "JPEG" and image.mode in ("RGB", "L") and _orientation(image) == 1:
            # Stored as uploaded: decoding only proves it whole, which libjpeg's 1/8
            # scale (in the DCT domain) does three times faster.
            image.draft(image.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, zlib.error) as exc:
        raise VideoError(f"{name} cannot be decoded ({exc})", "corrupt_frame") from None
    if fmt in _AS_UPLOADED and _orientation(image) == 1 and image.mode in ("RGB", "L"):
        return DecodedFrame(index, None, data, _AS_UPLOADED[fmt], *size)
    upright = render_rgb(ImageOps.exif_transpose(image))
    return DecodedFrame(index, None, _jpeg(upright, quality), ".jpg", *upright.size)


def decode_image_sequence(
    source: Source, limits: VideoLimits, report: DecodeReport, quality: int = JPEG_QUALITY
) -> Iterator[DecodedFrame]:
    """Every image of the zip in natural file-name order. Raises :class:`VideoError`
    (``corrupt_zip``, ``corrupt_frame``, ``mixed_frame_sizes``, and the probe's codes)."""
    with _open_zip(source) as archive:
        members = sequence_members(archive, limits)
        report.fps = None
        report.metadata = {"source": "image_sequence", "container": "zip"}
        first: tuple[int, int] | None = None
        for index, info in enumerate(members):
            try:
                data = archive.read(info)  # CRC-checked, never past the declared size
            except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
                raise VideoError(
                    f"{info.filename} cannot be read from the zip ({exc})", "corrupt_zip"
                ) from None
            frame = _sequence_frame(index, info.filename, data, limits, quality)
            _check_size(info.filename, (frame.width, frame.height), first)
            first = first or (frame.width, frame.height)
            yield frame
