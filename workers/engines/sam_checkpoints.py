"""Official segment-anything checkpoints: where to get them and how to verify them.

No torch import here, so the management command / deploy scripts can fetch and check
weights without loading the model.

About the file names: the six hex digits in ``sam_vit_h_4b8939.pth`` are **not** a
sha256 prefix. They are the first six digits of the file's **MD5** (the full MD5 of
the ViT-H file is ``4b8939a88964f0f4ff5f5b2642c598a6``; the full sha256 starts with
``a7bf3b``). We therefore check both: the MD5 prefix that the official name encodes,
and the full sha256 that many downstream projects pin (values cross-checked against
several independent public repositories; see :data:`OFFICIAL_CHECKPOINTS`). Both
digests come out of a single read of the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_URL",
    "OFFICIAL_CHECKPOINTS",
    "CheckpointError",
    "ChecksumMismatch",
    "DownloadError",
    "OfficialCheckpoint",
    "checkpoint_digests",
    "download_checkpoint",
    "verify_checkpoint",
]

BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
_CHUNK = 1 << 20  # 1 MiB reads: hashing is I/O-bound, bigger chunks buy nothing


@dataclass(frozen=True)
class OfficialCheckpoint:
    """One released SAM checkpoint.

    ``md5_prefix`` is the suffix encoded in the official file name; ``sha256`` is the
    full sha256 of the released file.
    """

    model_type: str
    filename: str
    md5_prefix: str
    sha256: str

    @property
    def url(self) -> str:
        return BASE_URL + self.filename


OFFICIAL_CHECKPOINTS: dict[str, OfficialCheckpoint] = {
    "vit_h": OfficialCheckpoint(
        "vit_h",
        "sam_vit_h_4b8939.pth",
        md5_prefix="4b8939",
        sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
    ),
    "vit_l": OfficialCheckpoint(
        "vit_l",
        "sam_vit_l_0b3195.pth",
        md5_prefix="0b3195",
        sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
    ),
    "vit_b": OfficialCheckpoint(
        "vit_b",
        "sam_vit_b_01ec64.pth",
        md5_prefix="01ec64",
        sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
    ),
}


class CheckpointError(RuntimeError):
    """Base class for checkpoint problems."""


class ChecksumMismatch(CheckpointError):
    """The file's digest differs from the official one (corrupt or truncated download,
    or a different model under an official name)."""


class DownloadError(CheckpointError):
    """The checkpoint could not be fetched (no network, HTTP error, unknown type)."""


def checkpoint_digests(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(sha256_hex, md5_hex)`` of the file at ``path``, read once in chunks."""
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _check(sha256_hex: str, md5_hex: str, model_type: str, where: str) -> None:
    official = OFFICIAL_CHECKPOINTS.get(model_type)
    if official is None:
        return  # "tiny" or custom fine-tunes: nothing known to compare against
    if not md5_hex.startswith(official.md5_prefix) or sha256_hex != official.sha256:
        raise ChecksumMismatch(
            f"{where} is not the official {model_type} checkpoint {official.filename}: "
            f"sha256 {sha256_hex[:12]}… (expected {official.sha256[:12]}…), "
            f"md5 {md5_hex[:6]} (expected {official.md5_prefix})"
        )


def verify_checkpoint(path: str | os.PathLike[str], model_type: str) -> str:
    """Hash the checkpoint at ``path`` and return its sha256 hex digest.

    For the official types (``vit_b``, ``vit_l``, ``vit_h``) the digest must match the
    released file, otherwise :class:`ChecksumMismatch`; any other type (``tiny``, a
    fine-tune) is only hashed. ``FileNotFoundError`` if the file does not exist.
    """
    sha256_hex, md5_hex = checkpoint_digests(path)
    _check(sha256_hex, md5_hex, model_type, str(path))
    return sha256_hex


def download_checkpoint(
    model_type: str,
    dest_dir: str | os.PathLike[str],
    urlopen: Callable[..., Any] = urllib.request.urlopen,
    *,
    url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch the official checkpoint of ``model_type`` into ``dest_dir``; return its path.

    The response is streamed into a temporary file in ``dest_dir`` (same filesystem, so
    the final ``os.replace`` is atomic), hashed while it streams, verified, and only
    then moved to ``dest_dir/<official file name>``: a half-written or corrupt file
    never appears under the real name. An already present, valid file is reused.

    ``urlopen`` is injectable for tests (and for proxies); ``url`` overrides the
    official address (a mirror, or ``file://`` in tests). Raises :class:`DownloadError`
    when the network is unreachable, :class:`ChecksumMismatch` when the bytes are wrong.
    """
    official = OFFICIAL_CHECKPOINTS.get(model_type)
    if official is None:
        raise DownloadError(
            f"no official checkpoint for model type {model_type!r}; "
            f"known: {', '.join(sorted(OFFICIAL_CHECKPOINTS))}"
        )
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / official.filename
    if target.is_file():
        try:
            verify_checkpoint(target, model_type)
            return target
        except ChecksumMismatch:
            pass  # stale or truncated leftover: download again over it

    source = url or official.url
    try:
        response = urlopen(source, timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(
            f"could not download {source}: {exc}. Without network access, fetch the file "
            f"elsewhere, copy it to {target} and set SAM_CHECKPOINT to that path."
        ) from exc

    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed/unlinked explicitly below
        prefix=f".{official.filename}.", suffix=".part", dir=dest, delete=False
    )
    try:
        sha = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)
        with tmp, response:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (urllib.error.URLError, OSError) as exc:
                    raise DownloadError(f"download of {source} interrupted: {exc}") from exc
                if not chunk:
                    break
                tmp.write(chunk)
                sha.update(chunk)
                md5.update(chunk)
        _check(sha.hexdigest(), md5.hexdigest(), model_type, f"download from {source}")
        os.replace(tmp.name, target)
    except BaseException:
        # Leave nothing half-written behind, whatever went wrong (even Ctrl-C).
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    return target
